// The run history: recent runs in a bounded ring, aggregates per minute,
// 10 minutes and hour with the kind's key values folded as each says,
// uptime windows, a restart going on from what the store kept; and the
// store's side: rows round-trip, replace, prune per tier, and survive a
// reopen; the keeper answers reads with what is written and what waits.

#include "daemon/state/probe_history.hpp"
#include "daemon/state/state_store.hpp"
#include "daemon/state/write_plan.hpp"

#include "probes/core/time_format.hpp"
#include "support/keeper_on_file.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using clock_point = std::chrono::system_clock::time_point;

// A whole hour, so minute, 10-minute and hour aggregates all start here.
const clock_point t0 = clock_point{} + std::chrono::hours(24 * 365 * 56);

probe_settings settings(const std::string& name, const std::string& kind) {
  probe_settings s;
  s.name = name;
  s.type = kind;
  return s;
}

run_outcome outcome(bool ok, double seconds, clock_point at, std::vector<sample> samples = {},
                    bool timed_out = false, std::string error = "") {
  run_outcome o;
  o.result.ok = ok;
  o.result.error = ok ? "" : (error.empty() ? std::string("port 1 closed (connection refused)") : error);
  o.result.samples = std::move(samples);
  o.duration_seconds = seconds;
  o.timed_out = timed_out;
  o.finished_at = at;
  return o;
}

sample value(const std::string& name, double v) { return sample{name, {}, v}; }

TEST(probe_history, keeps_the_last_runs_oldest_first_and_shares_a_repeated_cause) {
  probe_history h;
  const auto s = settings("api", "port");
  h.probe_added(s);
  for (int i = 0; i < 100; ++i) h.run_finished(s, outcome(i % 10 != 0, 0.001 * i, t0 + i * 1s));
  const auto v = h.find("api", t0 + 100s);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->runs.size(), probe_history::recent_runs_kept);
  EXPECT_EQ(v->runs.front().at_ms, unix_ms(t0 + 10s));
  EXPECT_EQ(v->runs.back().at_ms, unix_ms(t0 + 99s));
  EXPECT_EQ(v->runs[0].end, run_end::failed);  // run 10
  EXPECT_EQ(v->runs[10].end, run_end::failed);
  EXPECT_EQ(v->runs[0].cause.get(), v->runs[10].cause.get());
  EXPECT_EQ(*v->runs[0].cause, "port 1 closed (connection refused)");
  EXPECT_FALSE(v->runs[1].cause);
  EXPECT_TRUE(v->run_keys.empty());  // a port probe has no key values
}

TEST(probe_history, every_run_keeps_its_own_cause_however_many_different_ones_came_before) {
  probe_history h;
  const auto s = settings("api", "port");
  h.probe_added(s);
  // 300 failures, each with its own cause, then a few repeating ones.
  for (int i = 0; i < 300; ++i)
    h.run_finished(s, outcome(false, 0.001, t0 + i * 1s, {}, false, "cause " + std::to_string(i)));
  for (int i = 0; i < 10; ++i)
    h.run_finished(s, outcome(false, 0.001, t0 + (300 + i) * 1s, {}, false, "cause " + std::to_string(i % 2)));
  const auto v = h.find("api", t0 + 400s);
  ASSERT_EQ(v->runs.size(), probe_history::recent_runs_kept);
  for (std::size_t i = 0; i < 80; ++i) EXPECT_EQ(*v->runs[i].cause, "cause " + std::to_string(220 + i));
  for (std::size_t i = 80; i < 90; ++i) EXPECT_EQ(*v->runs[i].cause, "cause " + std::to_string(i % 2));
  EXPECT_EQ(v->runs[80].cause.get(), v->runs[82].cause.get());
}

TEST(probe_history, a_minute_closes_into_one_row_per_tier_with_counts_durations_and_keys) {
  probe_history h;
  const auto s = settings("cache", "redis");
  h.probe_added(s);
  const auto mem = [](double used) {
    return std::vector<sample>{value("vitals_redis_used_memory_bytes", used),
                               value("vitals_redis_maxmemory_bytes", 1000)};
  };
  h.run_finished(s, outcome(true, 0.002, t0 + 1s, mem(100)));
  h.run_finished(s, outcome(false, 0.010, t0 + 20s, {}, false, "connection refused"));
  h.run_finished(s, outcome(false, 0.500, t0 + 40s, {}, true));
  h.run_skipped(s, t0 + 45s);
  h.run_finished(s, outcome(true, 0.004, t0 + 50s, mem(300)));
  h.close_due(t0 + 59s);
  EXPECT_TRUE(h.take_closed().empty());  // the minute has not ended

  h.close_due(t0 + 60s);
  const auto rows = h.take_closed();
  ASSERT_EQ(rows.size(), 1u);  // the 10-minute and hour aggregates are still open
  const auto& b = rows[0].bucket;
  EXPECT_EQ(rows[0].probe, "cache");
  EXPECT_EQ(rows[0].kind, "redis");
  EXPECT_EQ(b.step_s, 60);
  EXPECT_EQ(b.start_ms, unix_ms(t0));
  EXPECT_EQ(b.runs, 4u);
  EXPECT_EQ(b.failed, 1u);
  EXPECT_EQ(b.timed_out, 1u);
  EXPECT_EQ(b.skipped, 1u);
  EXPECT_DOUBLE_EQ(b.duration_min, 0.002);
  EXPECT_DOUBLE_EQ(b.duration_max, 0.5);
  EXPECT_NEAR(b.duration_sum / b.runs, (0.002 + 0.010 + 0.5 + 0.004) / 4, 1e-12);
  EXPECT_EQ(b.keys[0], 300);  // memory used: the last value
  EXPECT_EQ(b.keys[1], 1000);
  EXPECT_TRUE(std::isnan(b.keys[2]));

  const auto ten = h.open_bucket("cache", 600s);
  ASSERT_TRUE(ten);
  EXPECT_EQ(ten->runs, 4u);
  h.close_due(t0 + 1h);
  EXPECT_EQ(h.take_closed().size(), 2u);  // the 10-minute and the hour
}

TEST(probe_history, a_closed_minute_keeps_its_durations_to_the_microsecond_as_the_store_does) {
  probe_history h;
  const auto s = settings("api", "http");
  h.probe_added(s);
  h.run_finished(s, outcome(true, 0.0012344, t0 + 1s));
  h.run_finished(s, outcome(true, 0.0000006, t0 + 2s));
  h.close_due(t0 + 60s);
  const auto rows = h.take_closed();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].bucket.duration_min, 0.000001);
  EXPECT_EQ(rows[0].bucket.duration_max, 0.001234);
  EXPECT_EQ(rows[0].bucket.duration_sum, 0.001235);
}

TEST(probe_history, a_lock_held_within_a_minute_shows_as_its_maximum_and_a_counter_as_its_increase) {
  probe_history h;
  const auto db = settings("db", "sqlite");
  const auto logs = settings("logs", "log");
  h.probe_added(db);
  h.probe_added(logs);
  h.run_finished(db, outcome(false, 0.001, t0 + 10s, {value("vitals_sqlite_locked", 1), value("vitals_sqlite_lock_held_seconds", 12)}));
  h.run_finished(db, outcome(true, 0.001, t0 + 40s, {value("vitals_sqlite_locked", 0), value("vitals_sqlite_lock_held_seconds", 0)}));
  // Two patterns, summed; the counter goes 5 -> 9 -> (reset) 2.
  const auto matches = [](double error, double warn) {
    return std::vector<sample>{sample{"vitals_log_matches_total", {{"pattern", "error"}}, error},
                               sample{"vitals_log_matches_total", {{"pattern", "warn"}}, warn}};
  };
  h.run_finished(logs, outcome(true, 0.001, t0 + 5s, matches(3, 2)));
  h.run_finished(logs, outcome(true, 0.001, t0 + 25s, matches(6, 3)));
  h.run_finished(logs, outcome(true, 0.001, t0 + 45s, matches(1, 1)));
  h.close_due(t0 + 60s);
  for (const auto& row : h.take_closed()) {
    if (row.probe == "db") {
      EXPECT_EQ(row.bucket.keys[0], 1);
      EXPECT_EQ(row.bucket.keys[1], 12);
    } else {
      EXPECT_EQ(row.bucket.keys[0], 5 + 4 + 2);
    }
  }
  const auto v = h.find("logs", t0 + 60s);
  ASSERT_EQ(v->run_keys.size(), 3u);
  EXPECT_EQ(v->run_keys[1][0], 4);  // the run's own matches
}

TEST(probe_history, uptime_counts_good_runs_over_runs_that_ran_in_each_window) {
  probe_history h;
  const auto s = settings("api", "http");
  h.probe_added(s);
  // Two hours ago: 10 runs, all failed; in the last hour 20 runs, 3 failed.
  for (int i = 0; i < 10; ++i) h.run_finished(s, outcome(false, 0.001, t0 + i * 1s));
  for (int i = 0; i < 20; ++i) h.run_finished(s, outcome(i >= 3, 0.001, t0 + 2h + i * 10s));
  h.run_skipped(s, t0 + 2h + 5s);
  h.close_due(t0 + 2h + 5min);
  const auto v = h.find("api", t0 + 2h + 5min);
  EXPECT_EQ(v->last_hour.runs, 20u);
  EXPECT_EQ(v->last_hour.good, 17u);
  EXPECT_EQ(v->last_day.runs, 30u);
  EXPECT_EQ(v->last_day.good, 17u);
  EXPECT_EQ(v->last_week.runs, 30u);
  EXPECT_NEAR(*v->last_hour.ratio(), 0.85, 1e-12);
  EXPECT_FALSE(uptime{}.ratio());
}

TEST(probe_history, uptime_stays_exact_when_a_step_counts_more_runs_than_16_bits_hold) {
  // A probe every 10 ms counts 360,000 runs an hour; the counts start in
  // 16 bits a slot and must widen, not wrap, keeping what came before.
  probe_history h;
  const auto s = settings("fast", "port");
  h.probe_added(s);
  auto hour = [&](std::chrono::hours at, std::uint32_t runs, std::uint32_t failed) {
    history_bucket b;
    b.start_ms = unix_ms(t0 + at);
    b.step_s = 3600;
    b.runs = runs;
    b.failed = failed;
    return history_row{"fast", "port", b};
  };
  auto minute = [&](std::chrono::minutes at, std::uint32_t runs, std::uint32_t failed) {
    auto r = hour(std::chrono::hours(0), runs, failed);
    r.bucket.start_ms = unix_ms(t0 + at);
    r.bucket.step_s = 60;
    return r;
  };
  const auto now = t0 + 100h + 30min;
  h.restore({hour(90h, 3600, 1), minute(100h + 10min, 60, 0), hour(98h, 360'000, 7), hour(99h, 70'000, 65'536),
             minute(100h + 20min, 6'000, 0), minute(100h + 21min, 70'000, 2)},
            now);
  const auto v = h.find("fast", now);
  EXPECT_EQ(v->last_week.runs, 3600u + 360'000u + 70'000u);
  EXPECT_EQ(v->last_week.good, 3599u + 359'993u + 4'464u);
  EXPECT_EQ(v->last_day.runs, 3600u + 360'000u + 70'000u);
  EXPECT_EQ(v->last_hour.runs, 60u + 6'000u + 70'000u);
  EXPECT_EQ(v->last_hour.good, 60u + 6'000u + 69'998u);
}

TEST(probe_history, uptime_counts_steps_before_1970_as_any_other) {
  // A host without a clock that holds its time boots near 1970 until NTP
  // sets it; the minute before the epoch has a negative index.
  probe_history h;
  const auto s = settings("api", "port");
  h.probe_added(s);
  const auto epoch = clock_point{};
  for (int i = 0; i < 4; ++i) h.run_finished(s, outcome(i != 1, 0.001, epoch - 2min + i * 10s));  // two minutes before
  for (int i = 0; i < 3; ++i) h.run_finished(s, outcome(true, 0.001, epoch - 50s + i * 10s));      // the minute before
  h.close_due(epoch + 5s);
  const auto v = h.find("api", epoch + 5s);
  EXPECT_EQ(v->last_hour.runs, 7u);
  EXPECT_EQ(v->last_hour.good, 6u);
}

TEST(probe_history, a_run_keeps_its_finish_time_to_the_millisecond) {
  probe_history h;
  const auto s = settings("api", "port");
  h.probe_added(s);
  const auto late = clock_point{} + std::chrono::milliseconds(7'258'118'400'123);  // 2200-01-01T00:00:00.123Z
  const auto early = clock_point{} - std::chrono::milliseconds(1);
  for (const auto at : {t0 + 1ms, late, early}) h.run_finished(s, outcome(true, 0.25, at));
  const auto v = h.find("api", t0);
  ASSERT_EQ(v->runs.size(), 3u);
  EXPECT_EQ(v->runs[0].at_ms, unix_ms(t0) + 1);
  EXPECT_EQ(v->runs[1].at_ms, 7'258'118'400'123);
  EXPECT_EQ(v->runs[2].at_ms, -1);
  EXPECT_EQ(v->runs[2].duration_seconds, 0.25f);
}

TEST(probe_history, a_restart_goes_on_from_the_open_aggregate_it_wrote_and_counts_the_closed_ones) {
  probe_history before;
  const auto s = settings("api", "port");
  before.probe_added(s);
  for (int i = 0; i < 6; ++i) before.run_finished(s, outcome(i != 2, 0.001, t0 + 10min + i * 10s));  // 10:00..10:50
  before.run_finished(s, outcome(true, 0.001, t0 + 11min + 5s));
  before.close_due(t0 + 11min + 10s);
  auto rows = before.take_closed();
  for (auto& r : before.open_rows()) rows.push_back(r);
  ASSERT_EQ(rows.size(), 1u + 3u);  // minute 10 closed; minute 11, 10-minute and hour open

  probe_history after;
  after.probe_added(s);
  after.run_finished(s, outcome(false, 0.001, t0 + 11min + 20s));  // ran before the store was read
  after.restore(rows, t0 + 11min + 25s);
  const auto v = after.find("api", t0 + 11min + 30s);
  EXPECT_EQ(v->last_hour.runs, 6u + 1u + 1u);
  EXPECT_EQ(v->last_hour.good, 5u + 1u);
  const auto minute = after.open_bucket("api", 60s);
  ASSERT_TRUE(minute);
  EXPECT_EQ(minute->start_ms, unix_ms(t0 + 11min));
  EXPECT_EQ(minute->runs, 2u);
  EXPECT_EQ(minute->failed, 1u);

  // Rows of a probe no longer configured, or of another kind, are left out.
  probe_history other;
  other.probe_added(settings("api", "http"));
  other.restore(rows, t0 + 11min + 25s);
  EXPECT_EQ(other.find("api", t0 + 11min + 30s)->last_hour.runs, 0u);
}

TEST(probe_history, a_run_dated_before_the_open_aggregate_is_counted_in_it_not_in_a_reopened_one) {
  probe_history h;
  const auto s = settings("api", "port");
  h.probe_added(s);
  h.run_finished(s, outcome(true, 0.001, t0 + 70s));
  h.run_finished(s, outcome(false, 0.001, t0 + 30s));  // the clock was set back 40 s
  EXPECT_TRUE(h.take_closed().empty());
  h.close_due(t0 + 2min);
  const auto rows = h.take_closed();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].bucket.start_ms, unix_ms(t0 + 1min));
  EXPECT_EQ(rows[0].bucket.runs, 2u);
}

TEST(probe_history, a_store_read_late_still_joins_its_aggregate_with_the_runs_of_the_same_step) {
  probe_history before;
  const auto s = settings("api", "port");
  before.probe_added(s);
  before.run_finished(s, outcome(true, 0.001, t0 + 10min + 50s));
  const auto rows = before.open_rows();  // written at a stop at 10:55

  probe_history after;
  after.probe_added(s);
  after.run_finished(s, outcome(false, 0.001, t0 + 10min + 58s));
  after.restore(rows, t0 + 11min + 2s);  // the file was read after the minute ended
  after.close_due(t0 + 11min + 5s);
  const auto closed = after.take_closed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].bucket.runs, 2u);  // what it replaces in the file held the first run
  EXPECT_EQ(after.find("api", t0 + 11min + 5s)->last_hour.runs, 2u);
}

TEST(probe_history, a_removed_probe_writes_its_open_aggregates_and_a_new_kind_starts_afresh) {
  probe_history h;
  h.probe_added(settings("a", "port"));
  h.probe_added(settings("b", "port"));
  h.run_finished(settings("a", "port"), outcome(true, 0.001, t0 + 1s));
  h.run_finished(settings("b", "port"), outcome(true, 0.001, t0 + 1s));
  h.keep_only({"b"});
  EXPECT_FALSE(h.find("a", t0 + 2s));
  const auto rows = h.take_closed();
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& r : rows) EXPECT_EQ(r.probe, "a");

  h.probe_added(settings("b", "http"));
  EXPECT_TRUE(h.find("b", t0 + 2s)->runs.empty());
}

history_row row(const std::string& probe, std::int32_t step, clock_point start, std::uint32_t runs,
                std::uint32_t failed, const std::string& kind = "port") {
  history_row r{probe, kind, {}};
  r.bucket.step_s = step;
  r.bucket.start_ms = unix_ms(start);
  r.bucket.runs = runs;
  r.bucket.failed = failed;
  r.bucket.duration_min = 0.001;
  r.bucket.duration_sum = 0.002 * runs;
  r.bucket.duration_max = 0.004;
  return r;
}

TEST(write_plan_history, rows_wait_until_written_and_a_failed_write_keeps_them_unless_a_newer_version_waits) {
  write_plan plan;
  plan.read_started();
  plan.read_finished(true);
  plan.history_closed({row("api", 60, t0, 4, 1), row("api", 60, t0 + 1min, 4, 0), row("db", 60, t0, 1, 0)});
  EXPECT_EQ(plan.history_waiting("api", 60, unix_ms(t0 + 1min)).size(), 1u);
  EXPECT_EQ(plan.history_waiting("api", 600, unix_ms(t0)).size(), 0u);
  ASSERT_EQ(plan.next(), write_plan::step::write);
  auto job = plan.start_write(t0 + 2min);
  EXPECT_EQ(job.history.size(), 3u);
  EXPECT_EQ(plan.waiting_history(), 0u);
  plan.history_closed({row("api", 60, t0, 5, 1)});  // a newer version while the write fails
  plan.write_finished(std::move(job), false);
  EXPECT_EQ(plan.waiting_history(), 3u);
  EXPECT_EQ(plan.history_waiting("api", 60, unix_ms(t0)).front().runs, 5u);
}

TEST(state_store_history, rows_round_trip_replace_and_are_pruned_per_tier) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  const auto now = t0 + 24h * 10;
  {
    state_store store(path);
    auto redis = row("cache", 60, now - 2min, 4, 1, "redis");
    redis.bucket.keys = {1.5e6, 4e6, NAN};
    ASSERT_TRUE(store.save({}, {},
                           {row("api", 60, now - 2min, 4, 1), row("api", 60, now - 7h, 4, 0),
                            row("api", 600, now - 47h, 40, 0), row("api", 600, now - 49h, 40, 0),
                            row("api", 3600, now - 24h * 6, 240, 2), row("api", 3600, now - 24h * 8, 240, 0), redis}))
        << store.problem();
    // Written again, closed: it replaces the open version.
    ASSERT_TRUE(store.save({}, {}, {row("api", 60, now - 2min, 6, 2)}));
    const auto minutes = store.load_history("api", 60s, now - 24h);
    ASSERT_TRUE(minutes);
    ASSERT_EQ(minutes->size(), 2u);
    EXPECT_EQ(minutes->back().runs, 6u);
    EXPECT_EQ(minutes->back().failed, 2u);
    EXPECT_NEAR(minutes->back().duration_sum, 0.012, 1e-9);
    const auto cache = store.load_history("cache", 60s, now - 1h);
    ASSERT_EQ(cache->size(), 1u);
    EXPECT_EQ(cache->front().keys[0], 1.5e6);
    EXPECT_TRUE(std::isnan(cache->front().keys[2]));

    retention keep;
    keep.history_max_age = 24h * 7;
    ASSERT_TRUE(store.prune(keep, now)) << store.problem();
    EXPECT_EQ(store.load_history("api", 60s, now - 24h * 30)->size(), 1u);    // 7 h old: past 6 h
    EXPECT_EQ(store.load_history("api", 600s, now - 24h * 30)->size(), 1u);   // 49 h old: past 48 h
    EXPECT_EQ(store.load_history("api", 3600s, now - 24h * 30)->size(), 1u);  // 8 d old: past 7 d
  }
  // Another connection, as after a restart.
  state_store again(path);
  const auto recent = again.load_recent_history(now);
  ASSERT_TRUE(recent) << again.problem();
  EXPECT_EQ(recent->size(), 1u + 1u + 1u);  // each probe's last minutes, and the hour of 6 days ago
}

TEST(state_store_history, a_name_given_to_another_kind_of_probe_drops_the_old_numbers) {
  test::temp_dir dir;
  state_store store(dir.path() + "/state.db");
  ASSERT_TRUE(store.save({}, {}, {row("x", 60, t0, 1, 0, "port")}));
  ASSERT_TRUE(store.save({}, {}, {row("x", 60, t0 + 1min, 1, 0, "http")}));
  const auto rows = store.load_history("x", 60s, t0 - 1h);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().start_ms, unix_ms(t0 + 1min));
}

TEST(state_keeper_history, a_read_waits_for_the_write_under_way_and_answers_with_every_row) {
  test::temp_dir dir;
  test::keeper_on_file k(dir.path() + "/state.db");
  k.open();
  k.keeper.record_history({row("api", 60, t0, 4, 1)});
  k.flush();
  k.keeper.record_history({row("api", 60, t0 + 1min, 4, 0)});  // its write is under way: the read waits for it
  std::optional<state_keeper::history_answer> answer;
  k.keeper.read_history("api", 60s, t0 - 1h, [&](state_keeper::history_answer a) { answer = std::move(a); });
  ASSERT_TRUE(test::run_until(k.io, [&] { return answer.has_value(); }));
  EXPECT_TRUE(answer->complete);
  ASSERT_EQ(answer->buckets.size(), 2u);
  EXPECT_EQ(answer->buckets[0].failed, 1u);
  EXPECT_EQ(answer->buckets[1].start_ms, unix_ms(t0 + 1min));
  k.flush();

  // The next start reads them back.
  test::keeper_on_file restarted(dir.path() + "/state.db");
  restarted.open();
  EXPECT_TRUE(restarted.keeper.take_restored_history().empty());  // t0 is decades ago: nothing recent
}

}  // namespace
}  // namespace vitals
