#pragma once

// What the certificate chain a TLS server sent says about its expiry, for
// the HTTP and WebSocket probes: the series, the evidence and the built-in
// rule they share. No OpenSSL or Beast here; peer_chain() in web_stream.hpp
// reads a chain off a connection.

#include "probes/core/probe.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace vitals {

// One certificate as a responder needs it.
struct tls_certificate {
  std::string subject;  // RFC 2253, e.g. "CN=api.example.com,O=Example"
  std::string issuer;
  std::int64_t not_after = 0;  // Unix seconds
};

// The leaf and the certificate that expires first: the chain is as good as
// that one (an intermediate can run out before the leaf).
struct tls_chain {
  tls_certificate leaf;
  tls_certificate earliest;  // the leaf itself when nothing in the chain expires before it
};

// `certificates` leaf first, as the server sent them; never empty.
tls_chain summarize_chain(const std::vector<tls_certificate>& certificates);

// Of two chains (a run that followed redirects met several), the one that
// expires first.
const tls_chain& earlier_chain(const tls_chain& a, const tls_chain& b);

// The series (the expiry time, and the seconds left at `now`) and the
// evidence (subject, issuer and expiry of the leaf, and of the earliest
// certificate when it is another one).
void add_tls_chain(probe_result& r, const tls_chain& chain, std::chrono::system_clock::time_point now);

// The series both web kinds declare; their samples carry no label of their own.
inline constexpr metric_info tls_cert_expiry_timestamp_metric{
    "vitals_tls_cert_expiry_timestamp_seconds",
    "When the first certificate of the chain the server sent expires, as a Unix time (https:// and wss:// only).",
    metric_kind::gauge};
inline constexpr metric_info tls_cert_expiry_metric{
    "vitals_tls_cert_expiry_seconds",
    "Seconds from the run to the expiry of the first certificate of the chain the server sent; negative once "
    "expired (https:// and wss:// only).",
    metric_kind::gauge};

// Built-in rule TLSCertExpiringSoon, listed by both web kinds: 14 days
// ahead, time enough to renew by hand. It compares the seconds left, the
// series the probe exports.
// constexpr, so the kinds' tables that copy it are filled before any code runs.
inline constexpr builtin_alert tls_cert_expiring_soon{
    "TLSCertExpiringSoon",
    "last_over_time(vitals_tls_cert_expiry_seconds[{hold}]) < {}",
    14 * 24 * 3600.0,
    std::chrono::milliseconds(0),
    "medium",
    "TLS certificate of {{ $labels.probe }} expires in {{ $value | humanizeDuration }}",
    "A certificate in the chain the server of {{ $labels.probe }} sends expires soon or has expired: renew it and "
    "install the new chain before clients refuse to connect.",
    threshold_unit::seconds};

}  // namespace vitals
