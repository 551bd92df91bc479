// A probe that asks for a run between its scheduled ones (probe::request_run),
// as the persistent WebSocket probe does when the server closes its kept
// connection: run at once, never two at a time, never for a removed probe.

#include "daemon/sched/scheduler.hpp"

#include "support/fake_probe.hpp"
#include "support/run_until.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace vitals;
using test::make_spec;
using test::run_until;

namespace {

class requesting_probe final : public probe {
public:
  int started = 0;
  int running = 0;
  int most_at_once = 0;
  bool ask_during_first_run = false;
  std::chrono::milliseconds run_for{0};

  void ask() const { request_run(); }

  asio::awaitable<probe_result> run() override {
    ++started;
    most_at_once = std::max(most_at_once, ++running);
    if (ask_during_first_run && started == 1) ask();
    if (run_for > 0ms) {
      asio::steady_timer t(co_await asio::this_coro::executor, run_for);
      co_await t.async_wait(asio::use_awaitable);
    }
    --running;
    co_return probe_result::success();
  }
  std::string target() const override { return "requesting:1"; }
};

struct counting_sink final : run_sink {
  int finished = 0;
  int skipped = 0;
  void run_finished(const probe_settings&, const run_outcome&, std::optional<bool>) override { ++finished; }
  void run_skipped(const probe_settings&) override { ++skipped; }
};

scheduler::offset_picker no_offset() {
  return [](steady_clock::duration) { return steady_clock::duration::zero(); };
}

std::vector<probe_spec> one_probe(probe_spec spec) {
  std::vector<probe_spec> probes;
  probes.push_back(std::move(spec));
  return probes;
}

}  // namespace

TEST(scheduler_run_request, a_run_the_probe_asks_for_starts_at_once_and_is_reported) {
  asio::io_context io;
  counting_sink sink;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<requesting_probe>();
  s.apply(one_probe(make_spec("kept", p, std::chrono::hours(1), 1s)));
  ASSERT_TRUE(run_until(io, [&] { return sink.finished == 1; }));
  p->ask();
  // With an hourly schedule, a second run within the limit is the one asked for.
  ASSERT_TRUE(run_until(io, [&] { return sink.finished == 2; }, 5s));
  EXPECT_EQ(p->started, 2);
  EXPECT_EQ(s.status().front().runs_ok, 2u);
}

TEST(scheduler_run_request, a_run_asked_for_during_a_run_follows_it_and_never_overlaps) {
  asio::io_context io;
  counting_sink sink;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<requesting_probe>();
  p->ask_during_first_run = true;
  p->run_for = 50ms;
  s.apply(one_probe(make_spec("kept", p, std::chrono::hours(1), 1s)));
  ASSERT_TRUE(run_until(io, [&] { return sink.finished == 2; }, 5s));
  EXPECT_EQ(p->most_at_once, 1);
  EXPECT_EQ(sink.skipped, 0);
}

TEST(scheduler_run_request, a_removed_probe_that_asks_for_a_run_is_not_run) {
  asio::io_context io;
  counting_sink sink;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<requesting_probe>();
  s.apply(one_probe(make_spec("kept", p, std::chrono::hours(1), 1s)));
  ASSERT_TRUE(run_until(io, [&] { return sink.finished == 1; }));
  s.apply({});
  p->ask();
  io.restart();
  io.poll();  // a run it started would have begun here: co_spawn posts its first step
  EXPECT_EQ(p->started, 1);
  EXPECT_EQ(sink.finished, 1);
}
