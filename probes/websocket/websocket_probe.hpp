#pragma once

#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/net/web_target.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vitals {

class node_reader;
struct probe_settings;
struct ws_session;  // the persistent connection; in websocket_session.hpp

// `type: websocket` — `wscat -c URL`, send {"type":"ping"}, expect
// {"type":"pong"}, done continuously: TCP connect, TLS, the upgrade
// handshake and the message round trip timed separately; a refused upgrade
// named by its status. With `persistent: true` one connection stays open
// the way a real client's does, and drops and reconnects are counted.
// Failure reasons: resolve, refused, unreachable, timeout, tls,
// unauthorized, forbidden, not_found, server_error, not_websocket,
// bad_accept_key, status, protocol, closed, too_large, mismatch.
// See docs/probes/websocket.md.
class websocket_probe final : public probe {
public:
  static constexpr std::string_view type = "websocket";
  using clock = std::chrono::steady_clock;

  enum class ping_mode {
    handshake,  // the upgrade only (no send, no expect)
    message,    // an application message and its answer
    control,    // a protocol ping frame and its pong frame
  };

  struct settings {
    web_url url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::string> subprotocols;
    tls_settings tls;
    ping_mode mode = ping_mode::handshake;
    std::string send;                     // may hold {{unix}}, {{unix_ms}}, {{uuid}}
    std::optional<std::string> expect;    // exact text
    std::string expect_regex;             // the text, for messages
    std::optional<user_regex> regex;
    std::optional<boost::json::value> expect_json;
    std::uint64_t max_message_bytes = 1024 * 1024;
    std::size_t max_messages = 100;       // other messages skipped while waiting, at most
    bool persistent = false;
    clock::duration timeout = std::chrono::seconds(5);  // the probe's
  };

  websocket_probe(settings s, const probe_context& ctx);
  ~websocket_probe() override;

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  asio::awaitable<probe_result> run() override;
  std::string target() const override { return settings_.url.text(); }

  const settings& config() const { return settings_; }
  // Whether the probe holds a TLS context (and the CA bundle it loaded).
  bool has_tls_context() const { return tls_ != nullptr; }

private:
  asio::awaitable<probe_result> run_once();
  asio::awaitable<probe_result> run_persistent();
  void add_counters(probe_result& r) const;

  settings settings_;
  const probe_context* ctx_;
  // wss:// only: a TLS context and its CA bundle cost megabytes that a
  // ws:// probe never uses.
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::vector<std::string> secrets_;
  std::map<int, double> close_codes_;  // close codes received from the server, counted
  // Persistent mode.
  std::shared_ptr<ws_session> session_;
  double disconnects_ = 0;
  bool ever_connected_ = false;
  bool in_run_ = false;  // a run under way sees a loss itself; between runs the reader asks for one
};

}  // namespace vitals
