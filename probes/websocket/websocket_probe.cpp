#include "probes/websocket/websocket_probe.hpp"

#include "probes/core/probe_settings.hpp"
#include "probes/core/node_reader.hpp"
#include "probes/core/version.hpp"
#include "probes/core/units.hpp"
#include "probes/net/web_stream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json/parse.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <limits>
#include <cstdio>
#include <deque>
#include <functional>
#include <stdexcept>

namespace vitals {

namespace websocket = beast::websocket;
using clock = websocket_probe::clock;
using error_code = boost::system::error_code;

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
};

constexpr std::size_t message_evidence_bytes = 200;

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

std::string seconds_text(double s) {
  char text[32];
  if (s < 1)
    std::snprintf(text, sizeof text, "%.1fms", s * 1000);
  else
    std::snprintf(text, sizeof text, "%.2fs", s);
  return text;
}

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

std::string header_value(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (beast::iequals(n, name)) return v;
  return {};
}

struct handshake_info {
  phase_times times;
  double handshake_seconds = 0;
  unsigned status = 0;  // of the upgrade response; 0 when none came
  std::string status_line;
  std::string subprotocol;
  std::string server;
  std::string certificate;
};

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

// One WebSocket connection, plain or TLS, behind one interface, so the
// conversation logic is written once.
class ws_link : public std::enable_shared_from_this<ws_link> {
public:
  virtual ~ws_link() = default;
  // Connect, TLS, upgrade, each bounded by `deadline`. nullopt on success.
  virtual asio::awaitable<std::optional<web_failure>> open(const websocket_probe::settings& s,
                                                            clock::time_point deadline, handshake_info& info) = 0;
  virtual asio::awaitable<error_code> write_text(std::string text) = 0;
  virtual asio::awaitable<error_code> read(std::string& out) = 0;
  virtual asio::awaitable<error_code> ping() = 0;
  virtual asio::awaitable<error_code> close_normally() = 0;
  // Persistent use: the deadline of open() no longer applies.
  virtual void keep_open() = 0;
  // Closes the socket at once; pending operations complete with an error.
  virtual void abort() = 0;
  virtual int close_code() const = 0;  // the server's close frame, 0 when none
  virtual std::string close_reason() const = 0;

  std::function<void()> on_pong;
};

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
      if (auto f = co_await handshake_tls(ws_.next_layer(), s.url, s.tls, info.times)) co_return f;
      info.certificate = peer_certificate_text(ws_.next_layer());
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

std::shared_ptr<ws_link> make_link(const asio::any_io_executor& ex, const web_url& url, asio::ssl::context& tls) {
  if (url.tls) return std::make_shared<ws_link_impl<tls_stream>>(ex, tls);
  return std::make_shared<ws_link_impl<beast::tcp_stream>>(ex);
}

bool is_close(const error_code& ec) { return ec == websocket::error::closed; }

}  // namespace

// The kept connection of persistent mode, shared by the probe and the
// reader coroutine that drains it between runs (so protocol pings are
// answered and a drop is seen at once). Touched on the loop only.
struct ws_session {
  explicit ws_session(const asio::any_io_executor& ex) : notify(ex) {}
  std::shared_ptr<ws_link> link;
  asio::steady_timer notify;  // cancelled whenever something below changes
  std::deque<std::string> inbox;
  bool alive = true;
  bool closing = false;  // we closed it: not a drop
  std::string ended_why;
  int close_code = 0;
  clock::time_point connected_at;
  std::optional<clock::time_point> pong_at;
  std::size_t max_inbox = 100;

  void wake() { notify.cancel(); }
};

namespace {

asio::awaitable<void> drain(std::shared_ptr<ws_session> s) {
  for (;;) {
    std::string message;
    const auto ec = co_await s->link->read(message);
    if (ec) {
      s->alive = false;
      s->close_code = is_close(ec) ? s->link->close_code() : 0;
      s->ended_why = is_close(ec) ? "the server closed it with " + close_code_text(s->close_code)
                                  : "the connection was lost (" + ec.message() + ")";
      s->wake();
      co_return;
    }
    s->inbox.push_back(std::move(message));
    if (s->inbox.size() > s->max_inbox) s->inbox.pop_front();
    s->wake();
  }
}

// Waits until `s` changes or `deadline` passes. Throws operation_aborted
// when the run itself is cancelled by the scheduler.
asio::awaitable<void> wait_for_news(ws_session& s, clock::time_point deadline) {
  s.notify.expires_at(deadline);
  co_await s.notify.async_wait(asio::as_tuple(asio::use_awaitable));
  auto cs = co_await asio::this_coro::cancellation_state;
  if (cs.cancelled() != asio::cancellation_type::none)
    throw boost::system::system_error(asio::error::operation_aborted, "websocket wait");
}

}  // namespace

// What an answer must look like.
static bool answer_matches(const websocket_probe::settings& s, const std::string& message, std::string& why) {
  if (s.expect) {
    if (message == *s.expect) return true;
    why = "not the expected text";
    return false;
  }
  if (s.regex) {
    if (std::regex_search(message, *s.regex)) return true;
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

websocket_probe::websocket_probe(settings s, const probe_context& ctx)
    : settings_(std::move(s)), ctx_(&ctx), tls_(make_client_tls(settings_.tls)),
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

constexpr double no_threshold = std::numeric_limits<double>::quiet_NaN();

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert websocket_alerts[] = {
    {"WebSocketNoPong", "vitals_probe_up{kind=\"websocket\"} == 0", no_threshold, 1min, "high",
     "WebSocket {{ $labels.probe }} does not answer",
     "The WebSocket probe {{ $labels.probe }} gets no (matching) answer or no upgrade."},
};

}  // namespace

std::span<const builtin_alert> websocket_probe::alerts() { return websocket_alerts; }

void websocket_probe::add_counters(probe_result& r) const {
  for (const auto& [code, count] : close_codes_)
    r.samples.push_back({"vitals_websocket_close_codes_total", {{"code", std::to_string(code)}}, count});
}

namespace {

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
  if (!info.times.address.empty()) timing += "connect " + seconds_text(info.times.connect_seconds);
  if (info.times.tls_seconds > 0) timing += ", tls " + seconds_text(info.times.tls_seconds);
  if (info.status != 0) timing += ", handshake " + seconds_text(info.handshake_seconds);
  if (!timing.empty()) r.evidence.emplace_back("timing", timing);
  if (!info.subprotocol.empty()) r.evidence.emplace_back("subprotocol", info.subprotocol);
  if (!info.server.empty()) r.evidence.emplace_back("server", info.server);
  if (!info.certificate.empty()) r.evidence.emplace_back("certificate", info.certificate);
}

void fail(probe_result& r, std::string reason, std::string error) {
  r.ok = false;
  r.reason = std::move(reason);
  r.error = std::move(error);
}

}  // namespace

asio::awaitable<probe_result> websocket_probe::run() {
  if (settings_.persistent) co_return co_await run_persistent();
  co_return co_await run_once();
}

asio::awaitable<probe_result> websocket_probe::run_once() {
  const auto started = clock::now();
  // A little inside the scheduler's deadline, so the probe's own account
  // (what it waited for, what it skipped) is the one reported.
  const auto deadline = started + settings_.timeout * 9 / 10;
  auto ex = co_await asio::this_coro::executor;
  auto link = make_link(ex, settings_.url, *tls_);
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
                  seconds_text(std::chrono::duration<double>(deadline - started).count());
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
        r.evidence.emplace_back("roundtrip", seconds_text(roundtrip) +
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
      r.evidence.emplace_back("roundtrip", seconds_text(*roundtrip) + " (protocol ping/pong)");
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

asio::awaitable<probe_result> websocket_probe::run_persistent() {
  const auto started = clock::now();
  const auto deadline = started + settings_.timeout * 9 / 10;
  auto ex = co_await asio::this_coro::executor;
  probe_result r = probe_result::success();

  auto counters = [&] {
    r.samples.push_back({"vitals_websocket_disconnects_total", {}, disconnects_});
    add_counters(r);
  };
  auto drop = [&](const std::string& why) {
    // Counted once, whoever noticed first.
    if (session_) {
      session_->closing = true;
      session_->link->abort();
      session_.reset();
    }
    disconnects_ += 1;
    r.evidence.emplace_back("dropped", why);
  };

  if (session_ && !session_->alive) {
    if (session_->close_code != 0) close_codes_[session_->close_code] += 1;
    drop(session_->ended_why + " after " + seconds_text(std::chrono::duration<double>(clock::now() - session_->connected_at).count()));
  }
  if (!session_) {
    auto link = make_link(ex, settings_.url, *tls_);
    handshake_info info;
    const auto opened = co_await link->open(settings_, deadline, info);
    add_handshake(r, info, settings_.url.tls);
    if (opened) {
      r.samples.push_back({"vitals_websocket_connected", {}, 0});
      counters();
      fail(r, opened->reason, redact(opened->error, secrets_));
      co_return r;
    }
    link->keep_open();
    session_ = std::make_shared<ws_session>(ex);
    session_->link = link;
    session_->connected_at = clock::now();
    session_->max_inbox = settings_.max_messages;
    if (ever_connected_) r.evidence.emplace_back("reconnected", "a new connection replaced the lost one");
    ever_connected_ = true;
    std::weak_ptr<ws_session> weak = session_;
    link->on_pong = [weak] {
      if (auto s = weak.lock()) {
        s->pong_at = clock::now();
        s->wake();
      }
    };
    asio::co_spawn(ex, drain(session_), asio::detached);
  }
  // Our own copy: a reload may destroy the probe while we wait.
  const auto session = session_;

  std::optional<double> roundtrip;
  std::string answer;
  const auto sent_at = clock::now();
  if (settings_.mode == ping_mode::message) {
    session->inbox.clear();  // earlier broadcasts answer nothing
    if (!settings_.send.empty()) {
      if (auto ec = co_await session->link->write_text(fill_templates(settings_.send))) session->alive = false;
    }
    std::size_t skipped = 0;
    while (session->alive && !roundtrip && clock::now() < deadline) {
      while (!session->inbox.empty() && !roundtrip) {
        std::string why;
        if (answer_matches(settings_, session->inbox.front(), why)) {
          roundtrip = seconds_since(sent_at);
          answer = session->inbox.front();
        } else {
          ++skipped;
        }
        session->inbox.pop_front();
      }
      if (!roundtrip) co_await wait_for_news(*session, deadline);
    }
    if (skipped) r.evidence.emplace_back("skipped", std::to_string(skipped) + " messages that did not match");
  } else if (settings_.mode == ping_mode::control) {
    session->pong_at.reset();
    if (auto ec = co_await session->link->ping()) session->alive = false;
    while (session->alive && !session->pong_at && clock::now() < deadline) co_await wait_for_news(*session, deadline);
    if (session->pong_at) roundtrip = std::chrono::duration<double>(*session->pong_at - sent_at).count();
  }

  const bool answered = settings_.mode == ping_mode::handshake || roundtrip.has_value();
  if (!session->alive && session_ == session) {
    if (session->close_code != 0) close_codes_[session->close_code] += 1;
    const std::string why = session->ended_why.empty() ? "the connection was lost" : session->ended_why;
    drop(why);
    fail(r, session->close_code != 0 ? "closed" : "protocol", "kept connection lost: " + why);
  } else if (!answered && session_ == session) {
    // Open, but silent: a half-dead connection the server no longer serves.
    drop("no answer within " + seconds_text(std::chrono::duration<double>(deadline - started).count()) +
         " on an open connection: dropped silently");
    fail(r, "timeout", std::string("no ") + (settings_.mode == ping_mode::control ? "pong frame" : "matching answer") +
                           " within " + seconds_text(std::chrono::duration<double>(deadline - started).count()) +
                           " on the kept connection; reconnecting next run");
  }
  const bool connected = session_ != nullptr && session_->alive;
  r.samples.push_back({"vitals_websocket_connected", {}, connected ? 1.0 : 0.0});
  if (connected) {
    const double age = std::chrono::duration<double>(clock::now() - session_->connected_at).count();
    r.samples.push_back({"vitals_websocket_connection_age_seconds", {}, age});
    r.evidence.emplace_back("connected for", seconds_text(age));
  }
  if (roundtrip) {
    r.samples.push_back({"vitals_websocket_roundtrip_seconds", {}, *roundtrip});
    r.evidence.emplace_back("roundtrip", seconds_text(*roundtrip));
    if (!answer.empty()) r.evidence.emplace_back("answer", redact(body_excerpt(answer, message_evidence_bytes), secrets_));
  }
  counters();
  co_return r;
}

// ---------------------------------------------------------------------------
// Configuration.

std::unique_ptr<probe> websocket_probe::create(const probe_settings& common, node_reader& r,
                                               const probe_context& ctx) {
  settings s;
  s.timeout = common.timeout;
  bool valid = true;
  auto fail_key = [&](std::string_view key, const std::string& message) {
    r.error(key, message);
    valid = false;
  };

  valid = read_web_url(r, true, s.url) && valid;
  valid = read_headers(r, s.headers, true) && valid;
  valid = read_tls_settings(r, s.tls) && valid;
  if (r.has("subprotocols")) {
    if (auto items = r.sequence("subprotocols")) {
      for (auto& item : *items) {
        const auto& n = item.node();
        if (n.IsScalar() && !n.Scalar().empty())
          s.subprotocols.push_back(n.Scalar());
        else
          fail_key("subprotocols", "expected a list of protocol names");
      }
    } else {
      valid = false;
    }
  }
  if (r.has("send")) {
    if (auto text = r.string("send"))
      s.send = *text;
    else
      valid = false;
  }
  int expectations = 0;
  if (r.has("expect")) {
    ++expectations;
    if (auto text = r.string("expect"))
      s.expect = *text;
    else
      valid = false;
  }
  if (r.has("expect_regex")) {
    ++expectations;
    if (auto text = r.string("expect_regex")) {
      try {
        s.regex = std::regex(*text, std::regex::ECMAScript);
        s.expect_regex = *text;
      } catch (const std::regex_error&) {
        fail_key("expect_regex", r.shown("expect_regex") + " is not a valid regular expression");
      }
    } else {
      valid = false;
    }
  }
  if (r.has("expect_json")) {
    ++expectations;
    boost::json::value expected;
    if (read_expected_json(r, "expect_json", expected))
      s.expect_json = std::move(expected);
    else
      valid = false;
  }
  if (expectations > 1) fail_key("expect", "use one of expect, expect_regex and expect_json");

  const bool talks = !s.send.empty() || expectations > 0;
  s.mode = talks ? ping_mode::message : ping_mode::handshake;
  if (r.has("mode")) {
    if (auto m = r.one_of("mode", {"handshake", "message", "control"})) {
      if (*m == "control") {
        s.mode = ping_mode::control;
        if (talks) fail_key("mode", "mode control sends a protocol ping frame: send and expect do not apply");
      } else if (*m == "handshake") {
        s.mode = ping_mode::handshake;
        if (talks) fail_key("mode", "mode handshake sends nothing: send and expect do not apply");
      } else {
        s.mode = ping_mode::message;
        if (!talks) fail_key("mode", "mode message needs send, or an expect* for a message the server pushes");
      }
    } else {
      valid = false;
    }
  }
  if (r.has("max_message_bytes")) {
    if (auto n = r.size("max_message_bytes"))
      s.max_message_bytes = *n;
    else
      valid = false;
  }
  if (r.has("max_messages")) {
    if (auto n = r.integer("max_messages", 1, 100000))
      s.max_messages = static_cast<std::size_t>(*n);
    else
      valid = false;
  }
  if (r.has("persistent")) {
    if (auto b = r.boolean("persistent"))
      s.persistent = *b;
    else
      valid = false;
  }

  if (!valid) return nullptr;
  try {
    return std::make_unique<websocket_probe>(std::move(s), ctx);
  } catch (const std::runtime_error& e) {
    r.error("tls", e.what());
    return nullptr;
  }
}

}  // namespace vitals
