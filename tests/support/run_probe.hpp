#pragma once

// Test helpers that drive one probe::run() to completion on a caller-owned
// io_context, the way the scheduler would (minus thresholds and metrics).

#include "probes/core/probe.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

namespace vitals::test {

namespace detail {

// Runs `io` until `done` is set. Handlers of other work in `io` (a test's
// own server, say) run too; the loop stops as soon as the probe finished.
inline void run_until_done(asio::io_context& io, const bool& done) {
  io.restart();
  while (!done)
    if (io.run_one() == 0) break;  // out of work without an answer: reported by the caller
}

}  // namespace detail

// co_spawns p.run() on `io` and runs the loop until it completes. Rethrows
// whatever run() threw.
inline probe_result run_once(asio::io_context& io, probe& p) {
  bool done = false;
  std::optional<probe_result> result;
  std::exception_ptr error;
  asio::co_spawn(io, p.run(), [&](std::exception_ptr e, probe_result r) {
    done = true;
    error = e;
    if (!e) result = std::move(r);
  });
  detail::run_until_done(io, done);
  if (error) std::rethrow_exception(error);
  if (!result) throw std::logic_error("run_once: the io_context ran out of work before the probe finished");
  return std::move(*result);
}

// Like the scheduler: races run() against a timer in a parallel group
// (wait_for_one); the loser is cancelled. Returns nullopt when the deadline
// won, i.e. what the scheduler records as reason=timeout. Rethrows what
// run() threw when it finished first.
inline std::optional<probe_result> run_with_deadline(asio::io_context& io, probe& p,
                                                     std::chrono::steady_clock::duration deadline) {
  bool done = false;
  std::optional<probe_result> result;
  std::exception_ptr error;
  auto race = [&p, deadline]() -> asio::awaitable<std::optional<probe_result>> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex, deadline);
    // Not awaitable_operators' ||: it waits for the first *success*, so a
    // run() that throws would be reported as the deadline winning.
    auto [order, run_error, run_result, timer_error] =
        co_await asio::experimental::make_parallel_group(asio::co_spawn(ex, p.run(), asio::deferred),
                                                         timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)timer_error;
    if (order[0] == 1) co_return std::nullopt;
    if (run_error) std::rethrow_exception(run_error);
    co_return std::move(run_result);
  };
  asio::co_spawn(io, race(), [&](std::exception_ptr e, std::optional<probe_result> r) {
    done = true;
    error = e;
    if (!e) result = std::move(r);
  });
  detail::run_until_done(io, done);
  if (error) std::rethrow_exception(error);
  if (!done) throw std::logic_error("run_with_deadline: the io_context ran out of work before the race finished");
  return result;
}

// The value of the first sample named `name`; nullopt when absent.
inline std::optional<double> sample_value(const probe_result& r, const std::string& name) {
  for (const auto& s : r.samples)
    if (s.name == name) return s.value;
  return std::nullopt;
}

// The first evidence line under `key`, or "<absent>".
inline std::string evidence_value(const probe_result& r, const std::string& key) {
  for (const auto& [k, v] : r.evidence)
    if (k == key) return v;
  return "<absent>";
}

// The whole result as text, for assertion messages.
inline std::string describe(const probe_result& r) {
  std::string text = (r.ok ? "ok" : "fail reason=" + r.reason + " error=" + r.error) + "\n";
  for (const auto& [k, v] : r.evidence) text += "  " + k + ": " + v + "\n";
  return text;
}

}  // namespace vitals::test
