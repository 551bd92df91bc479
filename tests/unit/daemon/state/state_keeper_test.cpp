// The state keeper's decisions, without I/O: the incident log in memory
// (ids, retention, merging a read, closing orphans) and the write-behind
// plan (one write at a time, coalesced; failed writes kept; reads before
// writes; health transitions; hourly retention). Then the keeper itself on
// a real SQLite file in a temp dir, for what only the whole can show.

#include "daemon/state/incident_log.hpp"
#include "daemon/state/state_keeper.hpp"
#include "daemon/state/write_plan.hpp"

#include "support/temp_env.hpp"
#include "support/keeper_on_file.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using alerts::wall_clock;

const auto t0 = wall_clock::time_point{} + std::chrono::hours(24 * 365 * 56);

alerts::alert_instance alert_on(const std::string& probe) { return test::probe_down_on(probe); }

incident an_incident(std::int64_t id, wall_clock::time_point started, std::optional<wall_clock::time_point> resolved) {
  incident i;
  i.id = id;
  i.alertname = "ProbeDown";
  i.started = started;
  i.resolved = resolved;
  return i;
}

std::vector<std::int64_t> ids_of(const std::vector<incident>& list) {
  std::vector<std::int64_t> out;
  for (const auto& i : list) out.push_back(i.id);
  return out;
}

// --- incident_log ----------------------------------------------------------

TEST(incident_log, opening_numbers_incidents_and_keeps_labels_but_alertname_and_severity) {
  incident_log log;
  log.next_id_at_least(41);
  const auto first = log.open(alert_on("api"), R"({"cause":"refused"})", t0);
  const auto second = log.open(alert_on("db"), "{}", t0 + 1s);
  EXPECT_EQ(first.id, 41);
  EXPECT_EQ(second.id, 42);
  EXPECT_EQ(first.alertname, "ProbeDown");
  EXPECT_EQ(first.severity, "high");
  EXPECT_EQ(first.labels, (alerts::labels{{"kind", "port"}, {"probe", "api"}}));
  EXPECT_EQ(first.started, t0);
  EXPECT_FALSE(first.resolved);
  EXPECT_EQ(first.summary, "api (port) is down");
  EXPECT_EQ(first.runbook_url, "file:///usr/share/doc/vitals/runbooks/ProbeDown.md");
  EXPECT_EQ(first.evidence_json, R"({"cause":"refused"})");
  log.next_id_at_least(10);  // never backwards
  EXPECT_EQ(log.open(alert_on("x"), "{}", t0).id, 43);
}

TEST(incident_log, retention_drops_what_resolved_before_max_age_and_keeps_open_ones_however_old) {
  incident_log log;
  log.merge({an_incident(1, t0 - 90 * 24h, std::nullopt),          // open for 90 days
             an_incident(2, t0 - 40 * 24h, t0 - 31 * 24h),         // resolved 31 days ago
             an_incident(3, t0 - 40 * 24h, t0 - 29 * 24h)},        // resolved 29 days ago
            3);
  log.trim({std::chrono::milliseconds(30 * 24h), 100}, t0);
  EXPECT_EQ(ids_of(log.recent(t0 - 365 * 24h)), (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(log.find(2), nullptr);
  ASSERT_NE(log.find(1), nullptr);
}

TEST(incident_log, retention_beyond_max_incidents_drops_the_oldest_resolved_never_an_open_one) {
  incident_log log;
  log.merge({an_incident(1, t0, std::nullopt), an_incident(2, t0, t0 + 1min), an_incident(3, t0, std::nullopt),
             an_incident(4, t0, t0 + 2min), an_incident(5, t0, t0 + 3min)},
            5);
  log.trim({std::chrono::milliseconds(30 * 24h), 3}, t0 + 1h);
  EXPECT_EQ(ids_of(log.recent(t0)), (std::vector<std::int64_t>{1, 3, 5}));
  log.trim({std::chrono::milliseconds(30 * 24h), 1}, t0 + 1h);
  EXPECT_EQ(ids_of(log.recent(t0)), (std::vector<std::int64_t>{1, 3}));  // more than the limit, all open
}

TEST(incident_log, a_read_merged_in_keeps_this_runs_versions_and_ids_continue_after_the_files_highest) {
  incident_log log;
  log.next_id_at_least(100);
  const auto ours = log.open(alert_on("api"), "{}", t0).id;  // 100
  log.find(ours)->resolved = t0 + 1min;
  auto stored_version = an_incident(ours, t0, std::nullopt);  // the file's older copy: still open
  log.merge({an_incident(7, t0 - 1h, t0 - 30min), stored_version}, 250);
  const auto all = log.recent(t0 - 1h);
  EXPECT_EQ(ids_of(all), (std::vector<std::int64_t>{7, 100}));
  EXPECT_EQ(all[1].resolved, t0 + 1min);
  EXPECT_EQ(log.open(alert_on("db"), "{}", t0).id, 251);
}

TEST(incident_log, recent_lists_open_and_recently_resolved_incidents_the_newest_limit_oldest_first) {
  incident_log log;
  log.merge({an_incident(1, t0 - 2h, t0 - 90min), an_incident(2, t0 - 2h, std::nullopt),
             an_incident(3, t0 - 1h, t0 - 10min), an_incident(4, t0 - 1h, t0 - 5min)},
            4);
  EXPECT_EQ(ids_of(log.recent(t0 - 30min)), (std::vector<std::int64_t>{2, 3, 4}));  // 1 resolved before `since`
  EXPECT_EQ(ids_of(log.recent(t0 - 30min, 2)), (std::vector<std::int64_t>{3, 4}));
}

TEST(incident_log, orphans_an_earlier_run_left_open_are_closed_and_nothing_else) {
  std::vector<incident> stored = {an_incident(1, t0 - 1h, std::nullopt), an_incident(2, t0 - 1h, t0 - 30min),
                                  an_incident(3, t0 - 1h, std::nullopt)};
  const auto closed = close_orphans(stored, {3}, t0);  // 3 is this run's own
  EXPECT_EQ(ids_of(closed), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(closed[0].resolved, t0);
  EXPECT_EQ(stored[0].resolved, t0);
  EXPECT_EQ(stored[1].resolved, t0 - 30min);  // already resolved: untouched
  EXPECT_FALSE(stored[2].resolved);
}

// --- write_plan ------------------------------------------------------------

// A plan whose file was read, as after a successful open.
write_plan read_plan() {
  write_plan p;
  p.read_started();
  EXPECT_FALSE(p.read_finished(true));
  p.pruned_at(t0);
  return p;
}

TEST(write_plan, nothing_is_written_before_the_file_was_read_once) {
  write_plan p;
  p.incident_changed(an_incident(1, t0, std::nullopt));
  p.alerts_changed({});
  EXPECT_EQ(p.next(), write_plan::step::read);  // a write now would replace alerts nobody read
  p.read_started();
  EXPECT_EQ(p.next(), write_plan::step::none);  // one thing at a time
  EXPECT_FALSE(p.read_finished(true));
  EXPECT_EQ(p.next(), write_plan::step::write);
}

TEST(write_plan, nothing_changed_means_no_write) {
  auto p = read_plan();
  EXPECT_EQ(p.next(), write_plan::step::none);
}

TEST(write_plan, a_failed_read_marks_the_store_failing_and_the_file_is_read_again_before_any_write) {
  write_plan p;
  p.incident_changed(an_incident(1, t0, std::nullopt));
  p.read_started();
  EXPECT_TRUE(p.read_finished(false));  // a change: reported
  EXPECT_FALSE(p.healthy());
  EXPECT_EQ(p.next(), write_plan::step::read);
  p.read_started();
  EXPECT_FALSE(p.read_finished(false));  // still failing: not reported again
  EXPECT_EQ(p.next(), write_plan::step::read);
}

TEST(write_plan, changes_made_while_a_write_runs_go_in_one_more_write_with_their_latest_versions) {
  auto p = read_plan();
  p.incident_changed(an_incident(1, t0, std::nullopt));
  p.alerts_changed({saved_alert{alert_on("api"), "vitals_probe_up == 0"}});
  ASSERT_EQ(p.next(), write_plan::step::write);
  auto first = p.start_write(t0 + 1s);
  EXPECT_EQ(ids_of(first.incidents), (std::vector<std::int64_t>{1}));
  ASSERT_EQ(first.alerts.size(), 1u);

  // While it runs: several changes, one incident twice, the alerts twice.
  p.incident_changed(an_incident(2, t0, std::nullopt));
  p.incident_changed(an_incident(1, t0, t0 + 2s));
  p.incident_changed(an_incident(2, t0, t0 + 3s));
  p.alerts_changed({saved_alert{alert_on("api"), "x"}, saved_alert{alert_on("db"), "x"}});
  p.alerts_changed({});
  EXPECT_EQ(p.next(), write_plan::step::none);  // never two writes at once

  EXPECT_FALSE(p.write_finished(std::move(first), true));
  ASSERT_EQ(p.next(), write_plan::step::write);
  const auto second = p.start_write(t0 + 4s);
  ASSERT_EQ(ids_of(second.incidents), (std::vector<std::int64_t>{1, 2}));  // each once
  EXPECT_EQ(second.incidents[0].resolved, t0 + 2s);
  EXPECT_EQ(second.incidents[1].resolved, t0 + 3s);
  EXPECT_TRUE(second.alerts.empty());  // the latest alerts, not the first write's
}

TEST(write_plan, a_failed_write_keeps_its_changes_for_the_next_and_a_newer_version_wins) {
  auto p = read_plan();
  p.incident_changed(an_incident(1, t0, std::nullopt));
  p.incident_changed(an_incident(2, t0, std::nullopt));
  p.alerts_changed({saved_alert{alert_on("api"), "x"}});
  auto failing = p.start_write(t0 + 1s);
  p.incident_changed(an_incident(2, t0, t0 + 2s));  // resolved while the write failed

  EXPECT_TRUE(p.write_finished(std::move(failing), false));
  EXPECT_FALSE(p.healthy());
  ASSERT_EQ(p.next(), write_plan::step::write);
  const auto retry = p.start_write(t0 + 3s);
  ASSERT_EQ(ids_of(retry.incidents), (std::vector<std::int64_t>{1, 2}));
  EXPECT_FALSE(retry.incidents[0].resolved);
  EXPECT_EQ(retry.incidents[1].resolved, t0 + 2s);  // not the failed write's older copy
  EXPECT_EQ(retry.alerts.size(), 1u);               // the alerts are written again
}

TEST(write_plan, the_store_goes_failing_and_recovers_once_each_way) {
  auto p = read_plan();
  EXPECT_TRUE(p.healthy());
  std::vector<bool> reported;
  for (const bool ok : {true, false, false, false, true, true, false, true}) {
    p.incident_changed(an_incident(1, t0, std::nullopt));
    reported.push_back(p.write_finished(p.start_write(t0), ok));
    EXPECT_EQ(p.healthy(), ok);
  }
  EXPECT_EQ(reported, (std::vector<bool>{false, true, false, false, true, false, true, true}));
}

TEST(write_plan, a_lost_file_marks_the_store_failing_and_is_read_again_before_everything_is_written) {
  auto p = read_plan();
  p.alerts_changed({saved_alert{alert_on("api"), "x"}});
  EXPECT_FALSE(p.write_finished(p.start_write(t0), true));
  EXPECT_TRUE(p.file_lost());  // a change: reported
  EXPECT_FALSE(p.healthy());
  EXPECT_FALSE(p.file_lost());  // still failing: not reported again
  EXPECT_EQ(p.next(), write_plan::step::read);  // a replacing file may hold what must not be lost
  p.read_started();
  EXPECT_FALSE(p.read_finished(true));
  ASSERT_EQ(p.next(), write_plan::step::write);
  EXPECT_EQ(p.start_write(t0 + 1s).alerts.size(), 1u);  // written again though they did not change
}

TEST(write_plan, retention_runs_with_a_successful_write_at_most_once_an_hour) {
  auto p = read_plan();  // pruned at t0, when the file was read
  const auto write_at = [&](wall_clock::time_point now, bool ok) {
    p.incident_changed(an_incident(1, t0, std::nullopt));
    auto job = p.start_write(now);
    const bool prune = job.prune;
    p.write_finished(std::move(job), ok);
    return prune;
  };
  EXPECT_FALSE(write_at(t0 + 59min, true));
  EXPECT_TRUE(write_at(t0 + 60min, false));  // failed: still due
  EXPECT_TRUE(write_at(t0 + 61min, true));
  EXPECT_FALSE(write_at(t0 + 62min, true));  // counted from the last successful one
  EXPECT_TRUE(write_at(t0 + 121min, true));
}

TEST(write_plan, while_the_store_fails_waiting_changes_are_bounded_oldest_resolved_first) {
  auto p = read_plan();
  for (std::int64_t id = 1; id <= 5; ++id)
    p.incident_changed(an_incident(id, t0, id % 2 ? std::nullopt : std::optional(t0 + 1min)));  // 2, 4 resolved
  p.bound_while_failing(2);
  EXPECT_EQ(p.waiting_incidents(), 5u);  // the store works: everything waits for the next write

  p.set_healthy(false);
  p.bound_while_failing(4);
  EXPECT_EQ(p.waiting_incidents(), 4u);
  p.bound_while_failing(1);
  EXPECT_EQ(p.waiting_incidents(), 3u);  // open ones are never dropped
  EXPECT_EQ(ids_of(p.start_write(t0).incidents), (std::vector<std::int64_t>{1, 3, 5}));
}

TEST(write_plan, a_resolution_for_an_incident_trimmed_from_memory_reaches_its_waiting_copy) {
  auto p = read_plan();
  p.incident_changed(an_incident(1, t0, std::nullopt));
  p.resolve_waiting(1, t0 + 1min);
  p.resolve_waiting(1, t0 + 2min);  // the first resolution stays
  p.resolve_waiting(9, t0 + 1min);  // nothing waits for 9: nothing to write
  const auto job = p.start_write(t0 + 3min);
  ASSERT_EQ(ids_of(job.incidents), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(job.incidents[0].resolved, t0 + 1min);
}

// --- state_keeper on a real file -------------------------------------------

TEST(state_keeper, what_is_saved_while_a_write_runs_is_written_after_it_in_its_latest_version) {
  test::temp_dir dir;
  test::keeper_on_file f(dir.path() + "/state.db");
  f.open();
  ASSERT_TRUE(f.keeper.healthy());
  const wall_clock::time_point now = std::chrono::floor<std::chrono::milliseconds>(wall_clock::now());  // as stored
  const auto api = f.keeper.open_incident(alert_on("api"), "{}", now);
  f.keeper.save({{alert_on("api"), "vitals_probe_up == 0"}});  // a write starts on the pool
  // The loop has not run: that write cannot have finished, so these wait for it.
  f.keeper.resolve_incident(api, now + 1s);
  const auto db = f.keeper.open_incident(alert_on("db"), "{}", now + 2s);
  f.keeper.save({{alert_on("db"), "vitals_probe_up == 0"}});
  f.flush();

  state_store check(f.path, state_store::mode::read_only);
  const auto stored = check.load_incidents(now - 1h, 10);
  ASSERT_TRUE(stored) << check.problem();
  ASSERT_EQ(ids_of(*stored), (std::vector<std::int64_t>{api, db}));
  EXPECT_EQ((*stored)[0].resolved, now + 1s);
  EXPECT_FALSE((*stored)[1].resolved);
  const auto alerts = check.load_alerts();
  ASSERT_TRUE(alerts);
  ASSERT_EQ(alerts->size(), 1u);
  EXPECT_EQ(alerts->front().alert.label_values.at("probe"), "db");
}

TEST(state_keeper, a_new_retention_applies_to_the_log_in_memory_from_the_next_change) {
  test::temp_dir dir;
  test::keeper_on_file f(dir.path() + "/state.db");
  f.open();
  const auto now = wall_clock::now();
  std::vector<std::int64_t> ids;
  for (int n = 0; n < 3; ++n) {
    ids.push_back(f.keeper.open_incident(alert_on("api"), "{}", now + std::chrono::seconds(n)));
    f.keeper.resolve_incident(ids.back(), now + std::chrono::seconds(n) + 500ms);
  }
  ASSERT_EQ(f.keeper.incidents(now - 1h).size(), 3u);
  f.keeper.set_retention({std::chrono::milliseconds(30 * 24h), 2});
  f.keeper.save({});
  EXPECT_EQ(ids_of(f.keeper.incidents(now - 1h)), (std::vector<std::int64_t>{ids[1], ids[2]}));
}

}  // namespace
}  // namespace vitals
