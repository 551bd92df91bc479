#pragma once

// A probe whose behaviour the test scripts: for scheduler, metrics and app
// tests that are about everything around a probe, not a probe kind.

#include "probes/core/probe.hpp"
#include "probes/core/probe_settings.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace vitals::test {

class fake_probe final : public probe {
public:
  // give_up: ends its own I/O before the deadline and says so (reason
  // "timeout"), as the web probes do at 90 % of the timeout.
  enum class behaviour { succeed, fail, give_up, hang, hang_ignoring_cancel, throw_error };

  explicit fake_probe(behaviour b = behaviour::succeed) : default_(b) {}

  // Results to give, in order; after that, the default behaviour.
  std::deque<behaviour> script;
  std::chrono::milliseconds hang_for{std::chrono::hours(1)};
  int started = 0;
  int finished = 0;
  std::vector<std::chrono::steady_clock::time_point> started_at;

  asio::awaitable<probe_result> run() override {
    ++started;
    started_at.push_back(std::chrono::steady_clock::now());
    behaviour b = default_;
    if (!script.empty()) {
      b = script.front();
      script.pop_front();
    }
    switch (b) {
      case behaviour::succeed: {
        ++finished;
        auto r = probe_result::success();
        r.samples.push_back({"vitals_fake_value", {{"slot", "1"}}, 42});
        r.evidence.emplace_back("note", "fine");
        co_return r;
      }
      case behaviour::fail:
        ++finished;
        co_return probe_result::failure("refused", "connection refused");
      case behaviour::give_up:
        ++finished;
        co_return probe_result::failure("timeout", "no pong within 90ms");
      case behaviour::throw_error:
        throw std::runtime_error("probe bug");
      case behaviour::hang: {
        asio::steady_timer t(co_await asio::this_coro::executor, hang_for);
        co_await t.async_wait(asio::use_awaitable);
        ++finished;
        co_return probe_result::success();
      }
      case behaviour::hang_ignoring_cancel: {
        // Like blocking work that cannot be interrupted: an empty slot
        // keeps the scheduler's cancellation away from this wait.
        asio::steady_timer t(co_await asio::this_coro::executor, hang_for);
        asio::cancellation_signal none;
        co_await t.async_wait(asio::bind_cancellation_slot(none.slot(), asio::use_awaitable));
        ++finished;
        co_return probe_result::success();
      }
    }
    co_return probe_result::failure("error", "unreachable");
  }

  std::string target() const override { return "fake:1"; }

private:
  behaviour default_;
};

inline probe_spec make_spec(std::string name, std::shared_ptr<probe> p, std::chrono::milliseconds interval,
                            std::chrono::milliseconds timeout, std::string fingerprint = "") {
  probe_spec s;
  s.settings.name = name;
  s.settings.type = "fake";
  s.settings.interval = interval;
  s.settings.timeout = timeout;
  s.fingerprint = fingerprint.empty() ? name : fingerprint;
  s.instance = std::move(p);
  return s;
}

}  // namespace vitals::test
