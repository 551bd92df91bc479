#include "probes/net/tls_certificate.hpp"

#include "probes/core/time_format.hpp"

#include <ctime>

namespace vitals {

namespace {

// "2026-06-03T12:00:00Z": a certificate's times have whole seconds.
std::string utc_text(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string expiry_text(const tls_certificate& c, std::chrono::system_clock::time_point now) {
  const auto left = std::chrono::sys_seconds(std::chrono::seconds(c.not_after)) - now;
  const auto when = left >= std::chrono::seconds(0) ? "in " + short_duration(left)
                                                    : "expired " + short_duration(-left) + " ago";
  return "not after " + utc_text(c.not_after) + " (" + when + ")";
}

std::string certificate_text(const tls_certificate& c, std::chrono::system_clock::time_point now) {
  return c.subject + "; issuer " + c.issuer + "; " + expiry_text(c, now);
}

}  // namespace

tls_chain summarize_chain(const std::vector<tls_certificate>& certificates) {
  tls_chain chain{certificates.front(), certificates.front()};
  for (const auto& c : certificates)
    if (c.not_after < chain.earliest.not_after) chain.earliest = c;
  return chain;
}

const tls_chain& earlier_chain(const tls_chain& a, const tls_chain& b) {
  return b.earliest.not_after < a.earliest.not_after ? b : a;
}

void add_tls_chain(probe_result& r, const tls_chain& chain, std::chrono::system_clock::time_point now) {
  const double expiry = static_cast<double>(chain.earliest.not_after);
  const double left = expiry - std::chrono::duration<double>(now.time_since_epoch()).count();
  r.samples.push_back({std::string(tls_cert_expiry_timestamp_metric.name), {}, expiry});
  r.samples.push_back({std::string(tls_cert_expiry_metric.name), {}, left});
  r.evidence.emplace_back("certificate", certificate_text(chain.leaf, now));
  if (chain.earliest.not_after < chain.leaf.not_after)
    r.evidence.emplace_back("expires first", certificate_text(chain.earliest, now));
}

}  // namespace vitals
