#include "probes/websocket/websocket_session.hpp"

#include "probes/core/units.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>

namespace vitals {

using namespace websocket_detail;

namespace {

asio::awaitable<void> drain(std::shared_ptr<ws_session> s) {
  for (;;) {
    std::string message;
    const auto ec = co_await s->link->read(message);
    if (ec) {
      s->alive = false;
      s->ended_at = clock::now();
      s->close_code = is_close(ec) ? s->link->close_code() : 0;
      s->ended_why = is_close(ec) ? "the server closed it with " + close_code_text(s->close_code)
                                  : "the connection was lost (" + ec.message() + ")";
      s->wake();
      if (!s->closing && s->on_lost) s->on_lost();
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

// ---------------------------------------------------------------------------
// One connection kept across runs: each run exchanges on it, a lost one is
// counted and replaced.

asio::awaitable<probe_result> websocket_probe::run_persistent() {
  in_run_ = true;
  struct run_mark {
    bool& in_run;
    ~run_mark() { in_run = false; }
  } mark{in_run_};
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
    // Lost between runs: the reader asked for this run at once, so the
    // series say so now. Connecting again waits for the next run: the
    // schedule sets the pace, not a server that drops every connection.
    const auto lost = session_;
    if (lost->close_code != 0) close_codes_[lost->close_code] += 1;
    const std::string why =
        lost->ended_why + " after " +
        format_seconds(std::chrono::duration<double>(lost->ended_at - lost->connected_at).count());
    if (lost->chain) add_tls_chain(r, *lost->chain, std::chrono::system_clock::now());
    drop(why);
    fail(r, lost->close_code != 0 ? "closed" : "protocol", "kept connection lost: " + why + "; reconnecting next run");
    r.samples.push_back({"vitals_websocket_connected", {}, 0});
    counters();
    co_return r;
  }
  const bool reused = session_ != nullptr;
  if (!session_) {
    auto link = make_link(ex, settings_.url, tls_.get());
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
    session_->chain = info.chain;
    session_->on_lost = [this] {
      if (!in_run_) request_run();
    };
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
  if (reused && session->chain) add_tls_chain(r, *session->chain, std::chrono::system_clock::now());

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
    drop("no answer within " + format_seconds(std::chrono::duration<double>(deadline - started).count()) +
         " on an open connection: dropped silently");
    fail(r, "timeout", std::string("no ") + (settings_.mode == ping_mode::control ? "pong frame" : "matching answer") +
                           " within " + format_seconds(std::chrono::duration<double>(deadline - started).count()) +
                           " on the kept connection; reconnecting next run");
  }
  const bool connected = session_ != nullptr && session_->alive;
  r.samples.push_back({"vitals_websocket_connected", {}, connected ? 1.0 : 0.0});
  if (connected) {
    const double age = std::chrono::duration<double>(clock::now() - session_->connected_at).count();
    r.samples.push_back({"vitals_websocket_connection_age_seconds", {}, age});
    r.evidence.emplace_back("connected for", format_seconds(age));
  }
  if (roundtrip) {
    r.samples.push_back({"vitals_websocket_roundtrip_seconds", {}, *roundtrip});
    r.evidence.emplace_back("roundtrip", format_seconds(*roundtrip));
    if (!answer.empty()) r.evidence.emplace_back("answer", redact(body_excerpt(answer, message_evidence_bytes), secrets_));
  }
  counters();
  co_return r;
}

}  // namespace vitals
