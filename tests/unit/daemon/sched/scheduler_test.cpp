#include "daemon/sched/scheduler.hpp"

#include "probes/core/valid_text.hpp"
#include "support/fake_probe.hpp"
#include "support/run_until.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;
using namespace vitals;
using test::fake_probe;
using test::make_spec;
using test::run_until;
using behaviour = fake_probe::behaviour;

namespace {

struct recorded_run {
  std::string probe;
  run_outcome outcome;
  std::optional<bool> up;
};

struct recording_sink final : run_sink {
  std::vector<recorded_run> runs;
  std::vector<std::string> added, removed;
  int skipped = 0;
  int lag_samples = 0;

  void probe_added(const probe_settings& s) override { added.push_back(s.name); }
  void probe_removed(const probe_settings& s) override { removed.push_back(s.name); }
  void run_finished(const probe_settings& s, const run_outcome& o, std::optional<bool> up) override {
    runs.push_back({s.name, o, up});
  }
  void run_skipped(const probe_settings&) override { ++skipped; }
  void scheduler_lag(double) override { ++lag_samples; }
};

// Starts every probe at once: no random offset in tests.
scheduler::offset_picker no_offset() {
  return [](steady_clock::duration) { return steady_clock::duration::zero(); };
}

std::vector<probe_spec> one_probe(probe_spec spec) {
  std::vector<probe_spec> probes;
  probes.push_back(std::move(spec));
  return probes;
}

}  // namespace

TEST(next_due_after, counts_from_the_due_time_not_from_now) {
  const steady_clock::time_point due{10s};
  // The run was dispatched 300 ms late: the next is still due + interval.
  EXPECT_EQ(next_due_after(due, 1s, due + 300ms), due + 1s);
}

TEST(next_due_after, drops_missed_slots_and_keeps_the_phase) {
  const steady_clock::time_point due{10s};
  EXPECT_EQ(next_due_after(due, 1s, due + 3500ms), due + 4s);
  EXPECT_EQ(next_due_after(due, 1s, due + 1s), due + 2s);  // exactly on a slot: the next one
}

TEST(next_due_after, intervals_do_not_drift_over_many_runs) {
  steady_clock::time_point due{0s};
  for (int i = 0; i < 1000; ++i) due = next_due_after(due, 15s, due + 7ms);  // always a bit late
  EXPECT_EQ(due, steady_clock::time_point{15000s});
}

TEST(run_with_deadline, probe_that_outlives_its_timeout_gets_reason_timeout) {
  asio::io_context io;
  fake_probe p(behaviour::hang);
  std::optional<run_outcome> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await run_with_deadline(p, 50ms); }, asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return out.has_value(); }));
  EXPECT_TRUE(out->timed_out);
  EXPECT_FALSE(out->result.ok);
  EXPECT_EQ(out->result.reason, "timeout");
  EXPECT_EQ(out->result.error, "no answer within 50ms");
  EXPECT_GE(out->duration_seconds, 0.050);
  EXPECT_EQ(p.finished, 0);  // the probe was cancelled, not waited for
}

TEST(run_with_deadline, a_probe_that_gives_up_in_time_by_itself_counts_as_a_timeout) {
  asio::io_context io;
  fake_probe p(behaviour::give_up);
  std::optional<run_outcome> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await run_with_deadline(p, 1s); }, asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return out.has_value(); }));
  EXPECT_TRUE(out->timed_out);
  EXPECT_EQ(out->result.reason, "timeout");
  EXPECT_EQ(out->result.error, "no pong within 90ms");  // its own account, not the scheduler's
  EXPECT_EQ(p.finished, 1);
}

TEST(run_with_deadline, an_ordinary_failure_is_not_a_timeout) {
  asio::io_context io;
  fake_probe p(behaviour::fail);
  std::optional<run_outcome> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await run_with_deadline(p, 1s); }, asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return out.has_value(); }));
  EXPECT_FALSE(out->timed_out);
  EXPECT_EQ(out->result.reason, "refused");
}

TEST(run_with_deadline, exception_from_a_probe_becomes_reason_error) {
  asio::io_context io;
  fake_probe p(behaviour::throw_error);
  std::optional<run_outcome> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await run_with_deadline(p, 1s); }, asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return out.has_value(); }));
  EXPECT_FALSE(out->result.ok);
  EXPECT_EQ(out->result.reason, "error");
  EXPECT_EQ(out->result.error, "probe bug");
  EXPECT_FALSE(out->timed_out);
}

namespace {

const std::string fffd = "\xEF\xBF\xBD";  // U+FFFD

// Answers with the bytes a target chose: a process named \xff, a header
// name cut inside a sequence, a UTF-16 surrogate spelled in UTF-8.
class hostile_probe final : public probe {
public:
  bool throws = false;

  asio::awaitable<probe_result> run() override {
    if (throws) throw std::runtime_error("server said \xff");
    auto r = probe_result::failure("odd\xff", "owned by \xff (pid 7)");
    r.evidence.emplace_back("x-\xE2\x82", "\xED\xA0\x80");
    r.samples.push_back({"vitals_fake_value", {{"process", "a\xff" "b"}}, 1});
    co_return r;
  }
  std::string target() const override { return "fake:\xff"; }
};

run_outcome run_hostile(hostile_probe& p) {
  asio::io_context io;
  std::optional<run_outcome> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await run_with_deadline(p, 1s); }, asio::detached);
  EXPECT_TRUE(run_until(io, [&] { return out.has_value(); }));
  return out.value_or(run_outcome{});
}

}  // namespace

TEST(run_with_deadline, replaces_ill_formed_bytes_in_every_text_of_a_result) {
  hostile_probe p;
  const auto out = run_hostile(p);
  EXPECT_EQ(out.result.error, "owned by " + fffd + " (pid 7)");
  EXPECT_EQ(out.result.reason, "odd" + fffd);
  ASSERT_EQ(out.result.evidence.size(), 1u);
  EXPECT_EQ(out.result.evidence[0].first, valid_utf8("x-\xE2\x82"));
  EXPECT_EQ(out.result.evidence[0].second, fffd + fffd + fffd);  // one per maximal ill-formed subpart
  ASSERT_EQ(out.result.samples.size(), 1u);
  EXPECT_EQ(out.result.samples[0].labels.at("process"), "a" + fffd + "b");
}

TEST(run_with_deadline, replaces_ill_formed_bytes_in_the_message_of_a_probe_that_threw) {
  hostile_probe p;
  p.throws = true;
  const auto out = run_hostile(p);
  EXPECT_EQ(out.result.reason, "error");
  EXPECT_EQ(out.result.error, "server said " + fffd);
}

TEST(scheduler, status_shows_a_target_as_valid_utf8) {
  asio::io_context io;
  recording_sink sink;
  scheduler s(io, sink, no_offset());
  s.apply(one_probe(make_spec("odd", std::make_shared<hostile_probe>(), std::chrono::hours(1), 1s)));
  ASSERT_EQ(s.status().size(), 1u);
  EXPECT_EQ(s.status()[0].target, "fake:" + fffd);
  EXPECT_EQ(s.status_of("odd")->target, "fake:" + fffd);
}

TEST(scheduler, runs_a_probe_repeatedly_and_reports_each_run) {
  asio::io_context io;
  recording_sink sink;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<fake_probe>();
  s.apply(one_probe(make_spec("a", p, 20ms, 10ms)));
  ASSERT_TRUE(run_until(io, [&] { return sink.runs.size() >= 3; }));
  EXPECT_EQ(sink.added, std::vector<std::string>{"a"});
  EXPECT_TRUE(sink.runs[0].outcome.result.ok);
  EXPECT_EQ(sink.runs[0].up, true);
  EXPECT_GE(sink.lag_samples, 3);
}

TEST(scheduler, run_still_in_flight_when_due_is_skipped_and_counted) {
  asio::io_context io;
  recording_sink sink;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<fake_probe>(behaviour::succeed);
  p->script = {behaviour::hang_ignoring_cancel};
  p->hang_for = 150ms;  // far past the 30 ms interval, and it ignores the 10 ms deadline
  s.apply(one_probe(make_spec("slow", p, 30ms, 10ms)));
  ASSERT_TRUE(run_until(io, [&] { return sink.runs.size() >= 2; }));
  EXPECT_GE(sink.skipped, 1);
  EXPECT_EQ(p->started, static_cast<int>(sink.runs.size()));  // never two at once
  EXPECT_EQ(sink.runs[0].outcome.result.reason, "timeout");
  EXPECT_EQ(s.status().front().runs_skipped, static_cast<std::uint64_t>(sink.skipped));
}

TEST(scheduler, unhealthy_interval_probes_faster_while_down) {
  asio::io_context io;
  recording_sink sink;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<fake_probe>(behaviour::fail);
  auto spec = make_spec("down", p, std::chrono::hours(1), 10ms);
  spec.settings.unhealthy_interval = 20ms;
  s.apply(one_probe(spec));
  // With a one-hour interval, a second run can only come from the unhealthy interval.
  ASSERT_TRUE(run_until(io, [&] { return sink.runs.size() >= 3; }));
  EXPECT_EQ(sink.runs.back().up, false);
}

TEST(scheduler, a_probe_going_down_is_not_run_before_its_next_due_time) {
  asio::io_context io;
  recording_sink sink;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<fake_probe>(behaviour::hang);
  // The first run times out at 320 ms and the probe goes down. Counted from
  // its due time in steps of the unhealthy interval, the next run is due at
  // 600 ms: the very time already waited for, which must still be waited for.
  auto spec = make_spec("slow", p, 600ms, 320ms);
  spec.settings.unhealthy_interval = 300ms;
  s.apply(one_probe(spec));
  ASSERT_TRUE(run_until(io, [&] { return p->started_at.size() >= 2; }));
  EXPECT_EQ(sink.runs.front().up, false);
  EXPECT_GE(p->started_at[1] - p->started_at[0], 480ms);
}

TEST(scheduler, a_run_that_cannot_be_started_is_lost_but_the_schedule_and_the_loop_go_on) {
  // Starting a run can fail only by running out of memory; a sink that
  // throws at that point stands in for it. Thrown from the timer handler,
  // it used to leave io.run() and stop the whole daemon.
  struct failing_once_sink final : run_sink {
    int lag_calls = 0;
    int finished = 0;
    void run_finished(const probe_settings&, const run_outcome&, std::optional<bool>) override { ++finished; }
    void scheduler_lag(double) override {
      if (++lag_calls == 1) throw std::runtime_error("out of memory");
    }
  } sink;
  asio::io_context io;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<fake_probe>();
  s.apply(one_probe(make_spec("a", p, 20ms, 10ms)));
  bool done = false;
  EXPECT_NO_THROW(done = run_until(io, [&] { return sink.finished >= 2; }));
  EXPECT_TRUE(done);
  EXPECT_GE(p->started, 2);
  EXPECT_LT(p->started, sink.lag_calls);  // the first due time started nothing
  EXPECT_EQ(s.status().front().runs_skipped, 0u);
}

TEST(scheduler, thresholds_decide_the_reported_up_state) {
  asio::io_context io;
  recording_sink sink;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<fake_probe>(behaviour::fail);
  auto spec = make_spec("t", p, 10ms, 5ms);
  spec.settings.failure_threshold = 2;
  s.apply(one_probe(spec));
  ASSERT_TRUE(run_until(io, [&] { return sink.runs.size() >= 2; }));
  EXPECT_EQ(sink.runs[0].up, true);   // one failure: not yet down
  EXPECT_EQ(sink.runs[1].up, false);  // two in a row: down
}

TEST(scheduler, reload_keeps_unchanged_probes_and_restarts_changed_ones) {
  asio::io_context io;
  recording_sink sink;
  scheduler s(io, sink, no_offset());
  auto keep = std::make_shared<fake_probe>();
  auto change = std::make_shared<fake_probe>();
  auto drop = std::make_shared<fake_probe>();
  std::vector<probe_spec> first = {make_spec("keep", keep, 20ms, 10ms, "k1"), make_spec("change", change, 20ms, 10ms, "c1"),
                  make_spec("drop", drop, 20ms, 10ms, "d1")};
  s.apply(first);
  ASSERT_TRUE(run_until(io, [&] { return sink.runs.size() >= 6; }));
  const auto keep_runs = s.status()[1].runs_ok;  // sorted by name: change, drop, keep

  auto changed = std::make_shared<fake_probe>();
  auto unused = std::make_shared<fake_probe>();
  std::vector<probe_spec> second = {make_spec("keep", unused, 20ms, 10ms, "k1"), make_spec("change", changed, 20ms, 10ms, "c2")};
  s.apply(second);

  EXPECT_EQ(sink.removed, (std::vector<std::string>{"change", "drop"}));
  ASSERT_EQ(s.size(), 2u);
  const auto st = s.status();
  EXPECT_EQ(st[0].settings.name, "change");
  EXPECT_EQ(st[0].runs_ok, 0u);           // restarted
  EXPECT_GE(st[1].runs_ok, keep_runs);    // kept its counters...
  ASSERT_TRUE(run_until(io, [&] { return changed->started >= 1 && keep->started >= 4; }));
  EXPECT_EQ(unused->started, 0);          // ...and its probe instance
  const int drop_started = drop->started;
  ASSERT_TRUE(run_until(io, [&] { return keep->started >= 8; }));
  EXPECT_EQ(drop->started, drop_started);  // removed: never runs again
}

TEST(scheduler, stop_cancels_runs_in_flight_without_reporting_them) {
  asio::io_context io;
  recording_sink sink;
  scheduler s(io, sink, no_offset());
  auto p = std::make_shared<fake_probe>(behaviour::hang);
  s.apply(one_probe(make_spec("hang", p, std::chrono::hours(1), std::chrono::minutes(30))));
  ASSERT_TRUE(run_until(io, [&] { return p->started == 1; }));
  EXPECT_EQ(s.in_flight(), 1u);
  s.stop();
  ASSERT_TRUE(run_until(io, [&] { return s.in_flight() == 0; }));
  EXPECT_TRUE(sink.runs.empty());
  EXPECT_EQ(p->finished, 0);
}

TEST(random_initial_offset, every_offset_is_inside_the_interval_and_they_spread_over_all_of_it) {
  constexpr int draws = 1000;
  std::array<int, 4> per_quarter{};  // of a 1 s interval
  std::set<steady_clock::duration> distinct;
  for (int i = 0; i < draws; ++i) {
    const auto offset = random_initial_offset(1s);
    ASSERT_GE(offset, steady_clock::duration::zero());
    ASSERT_LT(offset, 1s);
    ++per_quarter[static_cast<std::size_t>(offset / 250ms)];
    distinct.insert(offset);
  }
  // A uniform pick misses a quarter in 1000 draws with probability 4 * 0.75^1000,
  // about 1e-124: failing here means the picker is not spreading probes.
  for (std::size_t q = 0; q < per_quarter.size(); ++q) EXPECT_GT(per_quarter[q], 0) << "quarter " << q;
  EXPECT_GT(distinct.size(), 1u);
}

TEST(random_initial_offset, is_zero_when_the_interval_leaves_no_room) {
  EXPECT_EQ(random_initial_offset(steady_clock::duration{1}), steady_clock::duration::zero());  // [0, 1 tick)
  EXPECT_EQ(random_initial_offset(steady_clock::duration::zero()), steady_clock::duration::zero());
  EXPECT_EQ(random_initial_offset(-1s), steady_clock::duration::zero());
}

TEST(scheduler, first_run_waits_for_the_phase_the_pickers_offset_falls_in) {
  asio::io_context io;
  recording_sink sink;
  std::vector<steady_clock::duration> asked;
  // "now" starts at once; the "later" ones are told to wait almost their
  // whole hour. With 32 probes an interval has two phases: the second half
  // of the hour.
  scheduler s(io, sink, [&](steady_clock::duration interval) {
    asked.push_back(interval);
    return interval == std::chrono::hours(1) ? interval - 1s : steady_clock::duration::zero();
  });
  auto now = std::make_shared<fake_probe>();
  std::vector<std::shared_ptr<fake_probe>> later;
  std::vector<probe_spec> c = {make_spec("now", now, 20ms, 10ms)};
  for (int i = 0; i < 31; ++i) {
    later.push_back(std::make_shared<fake_probe>());
    c.push_back(make_spec("later-" + std::to_string(i), later.back(), std::chrono::hours(1), 10ms));
  }
  s.apply(c);
  ASSERT_EQ(asked.size(), 32u);
  EXPECT_EQ(asked.front(), 20ms);
  ASSERT_TRUE(run_until(io, [&] { return now->started >= 3; }));
  for (const auto& p : later) EXPECT_EQ(p->started, 0);  // an offset ignored would have run them at once
}

TEST(first_due, a_few_probes_share_one_phase_whatever_their_offsets) {
  const auto epoch = steady_clock::time_point{} + 1000s;
  for (const auto offset : {0ms, 1ms, 500ms, 999ms})
    EXPECT_EQ(first_due(epoch, epoch, 1s, offset, 1), epoch) << offset.count();
}

TEST(first_due, many_probes_spread_over_evenly_spaced_phases) {
  const auto epoch = steady_clock::time_point{} + 1000s;
  EXPECT_EQ(first_due(epoch, epoch, 1s, 0ms, 4), epoch);
  EXPECT_EQ(first_due(epoch, epoch, 1s, 249ms, 4), epoch);
  EXPECT_EQ(first_due(epoch, epoch, 1s, 250ms, 4), epoch + 250ms);
  EXPECT_EQ(first_due(epoch, epoch, 1s, 999ms, 4), epoch + 750ms);
}

TEST(first_due, a_probe_added_later_waits_for_its_phases_next_turn) {
  const auto epoch = steady_clock::time_point{} + 1000s;
  // Added 10.1 s after the first apply: its phase (0.5 s into each second)
  // comes next at 10.5 s, in step with the probes started at the epoch.
  EXPECT_EQ(first_due(epoch, epoch + 10100ms, 1s, 600ms, 2), epoch + 10500ms);
  EXPECT_EQ(first_due(epoch, epoch + 10500ms, 1s, 600ms, 2), epoch + 10500ms);  // exactly on it: now
  EXPECT_EQ(first_due(epoch, epoch + 10600ms, 1s, 100ms, 2), epoch + 11000ms);
}
