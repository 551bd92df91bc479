#include "probes/websocket/websocket_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/net/tls_certificate.hpp"
#include "probes/websocket/websocket_session.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

// The probe's settings, metrics and alerts. Its runs: the one-shot exchange
// in websocket_link.cpp, the persistent session in websocket_session.cpp.

namespace vitals {

namespace {

constexpr metric_info websocket_metrics[] = {
    {"vitals_websocket_connect_seconds", "TCP connect of the last connection attempt.", metric_kind::gauge},
    {"vitals_websocket_tls_seconds", "TLS handshake of the last connection attempt (wss:// only).", metric_kind::gauge},
    {"vitals_websocket_handshake_seconds", "The HTTP upgrade handshake of the last connection attempt.",
     metric_kind::gauge},
    {"vitals_websocket_roundtrip_seconds",
     "From sending the application ping (or protocol ping frame) to the matching answer.", metric_kind::gauge},
    {"vitals_websocket_http_status", "Status of the upgrade response: 101 when the upgrade succeeded.",
     metric_kind::gauge},
    {"vitals_websocket_close_codes_total", "Close frames received from the server, by close code.",
     metric_kind::counter},
    {"vitals_websocket_connected", "Persistent mode: 1 while the kept connection is open.", metric_kind::gauge},
    {"vitals_websocket_disconnects_total",
     "Persistent mode: kept connections lost — closed by the server, reset, or silent (no answer in time).",
     metric_kind::counter},
    {"vitals_websocket_connection_age_seconds", "Persistent mode: how long the kept connection has been open.",
     metric_kind::gauge},
    tls_cert_expiry_timestamp_metric,
    tls_cert_expiry_metric,
};

}  // namespace

websocket_probe::websocket_probe(settings s, const probe_context& ctx)
    : settings_(std::move(s)), ctx_(&ctx), tls_(settings_.url.tls ? make_client_tls(settings_.tls) : nullptr),
      secrets_(secret_header_values(settings_.headers)) {}

websocket_probe::~websocket_probe() {
  if (session_) {
    session_->closing = true;
    session_->link->abort();  // the reader ends with an error and lets go of the session
  }
}

std::span<const metric_info> websocket_probe::metrics() { return websocket_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert websocket_alerts[] = {
    {"WebSocketNoPong", "vitals_probe_up{kind=\"websocket\"} == 0", builtin_alert::no_threshold, 1min, "high",
     "WebSocket {{ $labels.probe }} does not answer",
     "The WebSocket probe {{ $labels.probe }} gets no (matching) answer or no upgrade."},
    tls_cert_expiring_soon,  // the HTTP kind lists it too: one rule serves both
};

}  // namespace

std::span<const builtin_alert> websocket_probe::alerts() { return websocket_alerts; }

void websocket_probe::add_counters(probe_result& r) const {
  for (const auto& [code, count] : close_codes_)
    r.samples.push_back({"vitals_websocket_close_codes_total", {{"code", std::to_string(code)}}, count});
}

asio::awaitable<probe_result> websocket_probe::run() {
  if (settings_.persistent) co_return co_await run_persistent();
  co_return co_await run_once();
}

// ---------------------------------------------------------------------------
// Configuration.

probe_builder websocket_probe::create(const probe_settings& common, node_reader& r) {
  settings s;
  s.timeout = common.timeout;
  read_web_url(r, true, s.url);
  read_headers(r, s.headers, true);
  read_tls_settings(r, s.tls);
  if (auto items = r.sequence("subprotocols")) {
    for (auto& item : *items) {
      const auto& n = item.node();
      if (n.IsScalar() && !n.Scalar().empty())
        s.subprotocols.push_back(n.Scalar());
      else
        r.error("subprotocols", "expected a list of protocol names");
    }
  }
  r.read("send", s.send);
  r.read("expect", s.expect);
  read_regex(r, "expect_regex", s.expect_regex, s.regex);
  read_expected_json(r, "expect_json", s.expect_json);
  const int expectations = r.has("expect") + r.has("expect_regex") + r.has("expect_json");
  if (expectations > 1) r.error("expect", "use one of expect, expect_regex and expect_json");

  const bool talks = !s.send.empty() || expectations > 0;
  s.mode = talks ? ping_mode::message : ping_mode::handshake;
  if (r.read("mode", s.mode,
             {{"handshake", ping_mode::handshake}, {"message", ping_mode::message}, {"control", ping_mode::control}})) {
    if (s.mode == ping_mode::control && talks)
      r.error("mode", "mode control sends a protocol ping frame: send and expect do not apply");
    else if (s.mode == ping_mode::handshake && talks)
      r.error("mode", "mode handshake sends nothing: send and expect do not apply");
    else if (s.mode == ping_mode::message && !talks)
      r.error("mode", "mode message needs send, or an expect* for a message the server pushes");
  }
  r.read_size("max_message_bytes", s.max_message_bytes);
  r.read("max_messages", s.max_messages, between{1, 100000});
  r.read("persistent", s.persistent);

  if (r.failed()) return {};
  return [s = std::move(s)](const probe_context& ctx) { return std::make_unique<websocket_probe>(s, ctx); };
}

}  // namespace vitals
