#include "probes/websocket/websocket_link.hpp"

#include "probes/core/units.hpp"
#include "probes/core/version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json/parse.hpp>

#include <chrono>
#include <cstdio>
#include <type_traits>

namespace vitals {

namespace websocket = beast::websocket;

namespace websocket_detail {

namespace {

std::string header_value(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (beast::iequals(n, name)) return v;
  return {};
}

web_failure handshake_failure(const error_code& ec, const websocket::response_type& res,
                              const websocket_probe::settings& s) {
  const unsigned status = ec == websocket::error::upgrade_declined ? res.result_int() : 0;
  const std::string line = std::to_string(status) + " " + std::string(res.reason());
  if (ec == websocket::error::bad_sec_accept || ec == websocket::error::no_sec_accept)
    return {"bad_accept_key", "upgrade answered 101 with a wrong Sec-WebSocket-Accept: not a WebSocket server"};
  if (status != 0 && status != 101) {
    if (status == 401)
      return {"unauthorized", "upgrade refused: " + line +
                                  (header_value(s.headers, "Authorization").empty()
                                       ? " (no Authorization header configured)"
                                       : " (the configured Authorization was not accepted)")};
    if (status == 403) {
      const auto origin = header_value(s.headers, "Origin");
      return {"forbidden", "upgrade refused: " + line +
                               (origin.empty() ? " (no Origin header sent)" : " (Origin " + origin + " not allowed?)")};
    }
    if (status == 404) return {"not_found", "upgrade refused: " + line + ": no WebSocket endpoint at " + s.url.target};
    if (status >= 500) return {"server_error", "upgrade refused: " + line};
    if (status < 300) return {"not_websocket", "answered " + line + " without upgrading: not a WebSocket endpoint"};
    return {"status", "upgrade refused: " + line};
  }
  auto f = classify_io_error(ec, "WebSocket handshake");
  if (f.reason == "error" && ec.category() == websocket::make_error_code(websocket::error::closed).category())
    f.reason = "protocol";
  return f;
}

template <class Next>
class ws_link_impl final : public ws_link {
public:
  template <class... Args>
  explicit ws_link_impl(Args&&... args) : ws_(std::forward<Args>(args)...) {}

  asio::awaitable<std::optional<web_failure>> open(const websocket_probe::settings& s, clock::time_point deadline,
                                                    handshake_info& info) override {
    auto& tcp = beast::get_lowest_layer(ws_);
    tcp.expires_at(deadline);
    if (auto f = co_await connect_stream(tcp, s.url, info.times)) co_return f;
    if constexpr (std::is_same_v<Next, tls_stream>) {
      auto f = co_await handshake_tls(ws_.next_layer(), s.url, s.tls, info.times);
      // Also when the certificate was refused: an expired one is then in the series.
      info.chain = peer_chain(ws_.next_layer());
      if (f) co_return f;
    }
    ws_.set_option(websocket::stream_base::decorator([&s](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "vitalsd/" + std::string(version()));
      for (const auto& [name, value] : s.headers) req.set(name, value);
      if (!s.subprotocols.empty()) {
        std::string list;
        for (const auto& p : s.subprotocols) list += (list.empty() ? "" : ", ") + p;
        req.set(beast::http::field::sec_websocket_protocol, list);
      }
    }));
    ws_.read_message_max(s.max_message_bytes);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong && on_pong) on_pong();
    });
    websocket::response_type res;
    const auto started = clock::now();
    auto [ec] = co_await ws_.async_handshake(res, s.url.host_header(), s.url.target, asio::as_tuple(asio::use_awaitable));
    info.handshake_seconds = seconds_since(started);
    // The response is the server's only when one was read: after a timeout
    // or a reset Beast leaves its own placeholder in it.
    const bool answered = !ec || ec == websocket::error::upgrade_declined || ec == websocket::error::bad_sec_accept ||
                          ec == websocket::error::no_sec_accept;
    if (answered) {
      info.status = res.result_int();
      info.status_line = std::to_string(info.status) + " " + std::string(res.reason());
    }
    info.subprotocol = std::string(res[beast::http::field::sec_websocket_protocol]);
    info.server = std::string(res[beast::http::field::server]);
    if (ec) co_return handshake_failure(ec, res, s);
    co_return std::nullopt;
  }

  asio::awaitable<error_code> write_text(std::string text) override {
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(text), asio::as_tuple(asio::use_awaitable));
    (void)n;
    co_return ec;
  }

  asio::awaitable<error_code> read(std::string& out) override {
    beast::flat_buffer buffer;
    auto [ec, n] = co_await ws_.async_read(buffer, asio::as_tuple(asio::use_awaitable));
    (void)n;
    if (!ec) out = beast::buffers_to_string(buffer.data());
    co_return ec;
  }

  asio::awaitable<error_code> ping() override {
    auto [ec] = co_await ws_.async_ping({}, asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }

  asio::awaitable<error_code> close_normally() override {
    auto [ec] = co_await ws_.async_close(websocket::close_code::normal, asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }

  void keep_open() override { beast::get_lowest_layer(ws_).expires_never(); }

  void abort() override {
    error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  int close_code() const override { return static_cast<int>(ws_.reason().code); }
  std::string close_reason() const override { return std::string(ws_.reason().reason.c_str()); }

private:
  websocket::stream<Next> ws_;
};

}  // namespace

std::shared_ptr<ws_link> make_link(const asio::any_io_executor& ex, const web_url& url, asio::ssl::context* tls) {
  if (url.tls) return std::make_shared<ws_link_impl<tls_stream>>(ex, *tls);
  return std::make_shared<ws_link_impl<beast::tcp_stream>>(ex);
}

bool is_close(const error_code& ec) { return ec == websocket::error::closed; }

std::string close_code_text(int code) {
  switch (code) {
    case 1000: return "1000 (normal)";
    case 1001: return "1001 (going away)";
    case 1002: return "1002 (protocol error)";
    case 1003: return "1003 (unsupported data)";
    case 1007: return "1007 (invalid payload)";
    case 1008: return "1008 (policy violation)";
    case 1009: return "1009 (message too big)";
    case 1011: return "1011 (server error)";
    case 1012: return "1012 (service restart)";
    case 1013: return "1013 (try again later)";
    default: return std::to_string(code);
  }
}

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

bool answer_matches(const websocket_probe::settings& s, const std::string& message, std::string& why) {
  if (s.expect) {
    if (message == *s.expect) return true;
    why = "not the expected text";
    return false;
  }
  if (s.regex) {
    if (s.regex->matches(message)) return true;
    why = "does not match /" + s.expect_regex + "/";
    return false;
  }
  if (s.expect_json) {
    error_code ec;
    const auto json = boost::json::parse(message, ec);
    if (ec) {
      why = "not JSON";
      return false;
    }
    why = json_subset_mismatch(*s.expect_json, json);
    return why.empty();
  }
  return true;  // any message answers
}

void add_handshake(probe_result& r, const handshake_info& info, bool tls) {
  if (!info.times.address.empty()) {
    r.samples.push_back({"vitals_websocket_connect_seconds", {}, info.times.connect_seconds});
    r.evidence.emplace_back("address", info.times.address);
  }
  if (tls && info.times.tls_seconds > 0) r.samples.push_back({"vitals_websocket_tls_seconds", {}, info.times.tls_seconds});
  if (info.status != 0) {
    r.samples.push_back({"vitals_websocket_handshake_seconds", {}, info.handshake_seconds});
    r.samples.push_back({"vitals_websocket_http_status", {}, static_cast<double>(info.status)});
    r.evidence.emplace_back("upgrade", info.status_line);
  }
  std::string timing;
  if (!info.times.address.empty()) timing += "connect " + format_seconds(info.times.connect_seconds);
  if (info.times.tls_seconds > 0) timing += ", tls " + format_seconds(info.times.tls_seconds);
  if (info.status != 0) timing += ", handshake " + format_seconds(info.handshake_seconds);
  if (!timing.empty()) r.evidence.emplace_back("timing", timing);
  if (!info.subprotocol.empty()) r.evidence.emplace_back("subprotocol", info.subprotocol);
  if (!info.server.empty()) r.evidence.emplace_back("server", info.server);
  if (info.chain) add_tls_chain(r, *info.chain, std::chrono::system_clock::now());
}

void fail(probe_result& r, std::string reason, std::string error) {
  r.ok = false;
  r.reason = std::move(reason);
  r.error = std::move(error);
}

}  // namespace websocket_detail

using namespace websocket_detail;

// ---------------------------------------------------------------------------
// One connection per run: open, one exchange, close.

asio::awaitable<probe_result> websocket_probe::run_once() {
  const auto started = clock::now();
  // A little inside the scheduler's deadline, so the probe's own account
  // (what it waited for, what it skipped) is the one reported.
  const auto deadline = started + settings_.timeout * 9 / 10;
  auto ex = co_await asio::this_coro::executor;
  auto link = make_link(ex, settings_.url, tls_.get());
  probe_result r = probe_result::success();
  handshake_info info;
  const auto opened = co_await link->open(settings_, deadline, info);
  add_handshake(r, info, settings_.url.tls);
  if (opened) {
    fail(r, opened->reason, redact(opened->error, secrets_));
    co_return r;
  }

  auto record_close = [&](const error_code& ec, const std::string& waiting_for) {
    if (is_close(ec)) {
      const int code = link->close_code();
      close_codes_[code] += 1;
      add_counters(r);
      const auto why = link->close_reason();
      fail(r, "closed", "the server closed the connection with " + close_code_text(code) +
                            (why.empty() ? "" : " \"" + why + "\"") + " before " + waiting_for);
    } else if (ec == websocket::error::message_too_big || ec == websocket::error::buffer_overflow) {
      fail(r, "too_large", "a message larger than " + format_bytes(static_cast<double>(settings_.max_message_bytes)) +
                               " (max_message_bytes) while waiting for " + waiting_for);
    } else {
      auto f = classify_io_error(ec, "waiting for " + waiting_for);
      if (f.reason == "timeout")
        f.error = "no " + (waiting_for.rfind("a ", 0) == 0 ? waiting_for.substr(2) : waiting_for) + " within " +
                  format_seconds(std::chrono::duration<double>(deadline - started).count());
      fail(r, f.reason, f.error);
    }
  };

  if (settings_.mode == ping_mode::message) {
    const auto sent_at = clock::now();
    if (!settings_.send.empty()) {
      if (auto ec = co_await link->write_text(fill_templates(settings_.send))) {
        record_close(ec, "the message was sent");
        co_return r;
      }
    }
    std::size_t skipped = 0;
    std::uint64_t bytes = 0;
    std::string last_skipped, last_why;
    for (;;) {
      std::string message;
      if (auto ec = co_await link->read(message)) {
        record_close(ec, "a matching answer");
        if (skipped > 0) {
          r.evidence.emplace_back("skipped", std::to_string(skipped) + " messages that did not match");
          r.evidence.emplace_back("last skipped", redact(body_excerpt(last_skipped, message_evidence_bytes), secrets_) +
                                                      " (" + last_why + ")");
          if (r.reason == "timeout") r.error += "; " + std::to_string(skipped) + " other messages skipped";
        }
        co_return r;
      }
      bytes += message.size();
      std::string why;
      if (answer_matches(settings_, message, why)) {
        const double roundtrip = seconds_since(sent_at);
        r.samples.push_back({"vitals_websocket_roundtrip_seconds", {}, roundtrip});
        r.evidence.emplace_back("answer", redact(body_excerpt(message, message_evidence_bytes), secrets_));
        r.evidence.emplace_back("roundtrip", format_seconds(roundtrip) +
                                                 (skipped ? " (" + std::to_string(skipped) + " other messages skipped)" : ""));
        break;
      }
      ++skipped;
      last_skipped = message;
      last_why = why;
      if (skipped >= settings_.max_messages || bytes > settings_.max_message_bytes * 4) {
        fail(r, "mismatch", std::to_string(skipped) + " messages (" + format_bytes(static_cast<double>(bytes)) +
                                ") and none matched; last: " +
                                redact(body_excerpt(last_skipped, message_evidence_bytes), secrets_) + " (" +
                                last_why + ")");
        link->abort();
        co_return r;
      }
    }
  } else if (settings_.mode == ping_mode::control) {
    // The pong arrives inside a read; on it we start the closing handshake,
    // which ends that read.
    std::optional<double> roundtrip;
    const auto sent_at = clock::now();
    std::weak_ptr<ws_link> weak = link;
    link->on_pong = [&roundtrip, sent_at, weak, ex] {
      if (roundtrip) return;
      roundtrip = seconds_since(sent_at);
      if (auto l = weak.lock())
        asio::co_spawn(ex, [l]() -> asio::awaitable<void> { co_await l->close_normally(); }, asio::detached);
    };
    if (auto ec = co_await link->ping()) {
      link->on_pong = nullptr;
      record_close(ec, "the ping was sent");
      co_return r;
    }
    std::string message;
    error_code ec;
    while (!(ec = co_await link->read(message))) {
    }
    link->on_pong = nullptr;
    // Our close ends the pending read: with `closed` once the server
    // answered it, or aborted when the close went first.
    if (roundtrip && (is_close(ec) || ec == asio::error::operation_aborted)) {
      r.samples.push_back({"vitals_websocket_roundtrip_seconds", {}, *roundtrip});
      r.evidence.emplace_back("roundtrip", format_seconds(*roundtrip) + " (protocol ping/pong)");
      add_counters(r);
      co_return r;
    }
    record_close(ec, "a pong frame");
    co_return r;
  }
  add_counters(r);
  if (auto ec = co_await link->close_normally(); ec && !is_close(ec))
    r.evidence.emplace_back("close", "closing handshake failed: " + ec.message());
  co_return r;
}

}  // namespace vitals
