// The SQLite state store: WAL and a versioned schema, alerts and incidents
// round-trip, retention, and files it must not touch (corrupt, newer).
// Also the daemon's side: in memory when the store fails, written in full
// once it works again.

#include "daemon/state/state_store.hpp"

#include "support/temp_env.hpp"
#include "support/keeper_on_file.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using alerts::wall_clock;

const auto t0 = wall_clock::time_point{} + std::chrono::hours(24 * 365 * 56) + 123ms;

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// One value read straight from the file with SQLite, not through the store.
std::string query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(s, 0);
    out = t ? reinterpret_cast<const char*>(t) : "NULL";
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

// A database made by SQLite itself, as another program would leave it.
void make_database(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

alerts::alert_instance firing_alert() {
  alerts::alert_instance a;
  a.rule = "ProbeDown";
  a.label_values = {{"alertname", "ProbeDown"}, {"probe", "api"}, {"kind", "port"}, {"severity", "high"}};
  a.value = 0;
  a.state = alerts::alert_state::firing;
  a.active_since = t0;
  a.fired_at = t0 + 60s;
  a.last_seen = t0 + 90s;
  a.summary = "api (port) is down";
  a.runbook_url = "file:///usr/share/doc/vitals/runbooks/ProbeDown.md";
  a.evidence = "cause: port 3001 closed (connection refused)";
  a.incident_id = 7;
  return a;
}

incident an_incident(std::int64_t id, wall_clock::time_point started, bool resolved) {
  incident i;
  i.id = id;
  i.alertname = "ProbeDown";
  i.severity = "high";
  i.labels = {{"probe", "api"}, {"kind", "port"}};
  i.started = started;
  if (resolved) i.resolved = started + 5min;
  i.summary = "api (port) is down";
  i.evidence_json = R"({"cause":"port 3001 closed"})";
  return i;
}

TEST(state_store, a_new_file_is_in_wal_mode_at_the_current_schema_version) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  {
    state_store store(path);
    ASSERT_TRUE(store.ok()) << store.problem();
  }
  EXPECT_EQ(query(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query(path, "PRAGMA user_version"), std::to_string(state_store::schema_version));
  EXPECT_EQ(query(path, "SELECT count(*) FROM sqlite_schema WHERE name IN ('alerts', 'incidents')"), "2");
}

TEST(state_store, alerts_and_incidents_come_back_as_they_were_saved) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  {
    state_store store(path);
    ASSERT_TRUE(store.save({{firing_alert(), "vitals_probe_up == 0"}}, {an_incident(7, t0 + 60s, false)}));
  }
  state_store store(path, state_store::mode::read_only);
  const auto alerts = store.load_alerts();
  ASSERT_TRUE(alerts) << store.problem();
  ASSERT_EQ(alerts->size(), 1u);
  const auto& a = (*alerts)[0].alert;
  const auto want = firing_alert();
  EXPECT_EQ((*alerts)[0].expr, "vitals_probe_up == 0");
  EXPECT_EQ(a.rule, want.rule);
  EXPECT_EQ(a.label_values, want.label_values);
  EXPECT_EQ(a.state, alerts::alert_state::firing);
  EXPECT_EQ(a.active_since, want.active_since);  // milliseconds survive
  EXPECT_EQ(a.fired_at, want.fired_at);
  EXPECT_EQ(a.last_seen, want.last_seen);
  EXPECT_FALSE(a.keep_firing_since);
  EXPECT_EQ(a.summary, want.summary);
  EXPECT_EQ(a.runbook_url, want.runbook_url);
  EXPECT_EQ(a.evidence, want.evidence);
  EXPECT_EQ(a.incident_id, 7);

  const auto incidents = store.load_incidents(t0, 100);
  ASSERT_TRUE(incidents);
  ASSERT_EQ(incidents->size(), 1u);
  EXPECT_EQ((*incidents)[0].id, 7);
  EXPECT_EQ((*incidents)[0].labels, (alerts::labels{{"probe", "api"}, {"kind", "port"}}));
  EXPECT_EQ((*incidents)[0].started, t0 + 60s);
  EXPECT_FALSE((*incidents)[0].resolved);
  EXPECT_EQ((*incidents)[0].evidence_json, R"({"cause":"port 3001 closed"})");
}

TEST(state_store, saving_replaces_the_alerts_and_updates_an_incident_in_place) {
  test::temp_dir dir;
  state_store store(dir.path() + "/state.db");
  ASSERT_TRUE(store.save({{firing_alert(), "x"}}, {an_incident(7, t0, false)}));
  auto resolved = an_incident(7, t0, true);
  ASSERT_TRUE(store.save({}, {resolved}));
  EXPECT_TRUE(store.load_alerts()->empty());
  const auto incidents = *store.load_incidents(t0 - 1h, 100);
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].resolved, resolved.resolved);
}

TEST(state_store, retention_deletes_old_and_excess_resolved_incidents_never_open_ones) {
  test::temp_dir dir;
  state_store store(dir.path() + "/state.db");
  const auto now = t0 + 100 * 24h;
  std::vector<incident> list{
      an_incident(1, now - 40 * 24h, true),   // too old
      an_incident(2, now - 40 * 24h, false),  // started long ago, but still firing: kept
      an_incident(3, now - 3h, true),         // beyond the count: the oldest resolved of the rest
      an_incident(4, now - 2h, true),
      an_incident(5, now - 1h, true),
  };
  ASSERT_TRUE(store.save({}, list));
  const auto gone = store.prune({30 * 24h, 3}, now);
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, 2u);
  auto ids_of = [&](std::size_t limit) {
    std::vector<std::int64_t> ids;
    const auto loaded = store.load_incidents(wall_clock::time_point{}, limit);
    for (const auto& i : loaded.value_or(std::vector<incident>{})) ids.push_back(i.id);
    return ids;
  };
  EXPECT_EQ(ids_of(100), (std::vector<std::int64_t>{2, 4, 5}));
  // `limit` keeps the newest resolved ones; open incidents always come.
  EXPECT_EQ(ids_of(1), (std::vector<std::int64_t>{2, 5}));
}

TEST(state_store, a_file_that_is_not_a_database_is_reported_and_left_untouched) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  const std::string garbage(8192, 'x');
  std::ofstream(path, std::ios::binary) << garbage;
  state_store store(path);
  EXPECT_FALSE(store.ok());
  EXPECT_NE(store.problem().find("not a database"), std::string::npos) << store.problem();
  EXPECT_NE(store.problem().find(path), std::string::npos) << store.problem();
  EXPECT_FALSE(store.save({}, {an_incident(1, t0, false)}));
  EXPECT_EQ(read_all(path), garbage);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(state_store, a_file_from_a_newer_vitalsd_is_refused_not_migrated) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  make_database(path, "CREATE TABLE future(x); PRAGMA user_version=99");
  const auto before = read_all(path);
  state_store store(path);
  EXPECT_FALSE(store.ok());
  EXPECT_NE(store.problem().find("schema version 99 is newer"), std::string::npos) << store.problem();
  EXPECT_EQ(query(path, "PRAGMA user_version"), "99");
  EXPECT_EQ(read_all(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(state_store, an_empty_older_file_is_migrated_and_keeps_its_other_tables) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  make_database(path, "CREATE TABLE notes(x); INSERT INTO notes VALUES ('kept')");
  state_store store(path);
  ASSERT_TRUE(store.ok()) << store.problem();
  EXPECT_EQ(query(path, "SELECT x FROM notes"), "kept");
  EXPECT_EQ(query(path, "PRAGMA user_version"), std::to_string(state_store::schema_version));
}

TEST(state_store, a_directory_that_appears_later_is_used_then) {
  test::temp_dir dir;
  const auto path = dir.path() + "/later/state.db";
  state_store store(path);
  EXPECT_FALSE(store.ok());
  EXPECT_NE(store.problem().find(path), std::string::npos);
  std::filesystem::create_directory(dir.path() + "/later");
  EXPECT_TRUE(store.save({}, {an_incident(1, t0, false)})) << store.problem();
  EXPECT_EQ(store.load_incidents(t0, 10)->size(), 1u);
}

TEST(state_store, read_only_never_creates_a_file) {
  test::temp_dir dir;
  const auto path = dir.path() + "/absent.db";
  state_store store(path, state_store::mode::read_only);
  EXPECT_FALSE(store.ok());
  EXPECT_FALSE(std::filesystem::exists(path));
}

// --- The daemon's side -----------------------------------------------------

TEST(state_keeper, a_failing_store_keeps_incidents_in_memory_and_writes_them_once_it_works) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  std::ofstream(path) << std::string(4096, 'x');
  test::keeper_on_file f(path);
  EXPECT_TRUE(f.open().empty());
  EXPECT_FALSE(f.keeper.healthy());
  EXPECT_EQ(f.healthy_gauge(), "0");

  const auto a = firing_alert();
  const auto id = f.keeper.open_incident(a, R"({"cause":"refused"})", t0);
  f.keeper.save({{a, "vitals_probe_up == 0"}});
  f.flush();
  EXPECT_FALSE(f.keeper.healthy());
  ASSERT_EQ(f.keeper.incidents(t0 - 1h).size(), 1u);  // served from memory meanwhile

  std::filesystem::remove(path);
  f.keeper.resolve_incident(id, t0 + 1min);
  f.keeper.save({});
  f.flush();
  EXPECT_TRUE(f.keeper.healthy());
  EXPECT_EQ(f.healthy_gauge(), "1");

  state_store check(path, state_store::mode::read_only);
  const auto stored = check.load_incidents(t0 - 1h, 10);
  ASSERT_TRUE(stored) << check.problem();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].id, id);
  EXPECT_EQ((*stored)[0].resolved, t0 + 1min);
}

TEST(state_keeper, a_resolution_trimmed_from_memory_is_still_written) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  test::keeper_on_file f(path);
  f.open();
  f.keeper.set_retention({std::chrono::milliseconds(30 * 24h), 1});
  const auto now = wall_clock::now();
  const auto first = f.keeper.open_incident(firing_alert(), "{}", now);
  f.keeper.resolve_incident(first, now + 1s);
  f.keeper.open_incident(firing_alert(), "{}", now + 2s);  // pushes the first out of memory
  EXPECT_EQ(f.keeper.incidents(now - 1h).size(), 1u);
  f.keeper.save({});
  f.flush();
  state_store check(path, state_store::mode::read_only);
  const auto stored = check.load_incidents(now - 1h, 10);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[0].id, first);
  EXPECT_TRUE((*stored)[0].resolved);
}

TEST(state_keeper, an_open_incident_older_than_max_age_comes_back_and_ids_never_repeat) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  const auto now = wall_clock::now();
  {
    state_store s(path);
    ASSERT_TRUE(s.save({}, {an_incident(5, now - 60 * 24h, false), an_incident(9, now - 50 * 24h, true)}));
  }
  test::keeper_on_file f(path);
  f.open();
  const auto log = f.keeper.incidents(now - 1h);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].id, 5);  // 60 days old, still firing: it must be closable
  EXPECT_GT(f.keeper.open_incident(firing_alert(), "{}", now), 9);
}

TEST(state_keeper, a_file_unreadable_at_start_is_not_overwritten_until_read_then_its_orphans_close) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  const auto now = wall_clock::now();
  {
    state_store s(path);
    ASSERT_TRUE(s.save({{firing_alert(), "vitals_probe_up == 0"}}, {an_incident(7, now - 1h, false)}));
  }
  // Unreadable at start: a newer schema version, for a moment.
  make_database(path, "PRAGMA user_version=99");
  test::keeper_on_file f(path);
  EXPECT_TRUE(f.open().empty());
  EXPECT_FALSE(f.keeper.healthy());
  const auto ours = f.keeper.open_incident(firing_alert(), "{}", now);
  f.keeper.save({});
  f.flush();
  EXPECT_EQ(query(path, "SELECT count(*) FROM alerts"), "1");  // not replaced while unread

  make_database(path, ("PRAGMA user_version=" + std::to_string(state_store::schema_version)).c_str());
  f.keeper.save({});
  f.flush();
  EXPECT_TRUE(f.keeper.healthy());
  EXPECT_EQ(query(path, "SELECT count(*) FROM alerts"), "0");
  EXPECT_EQ(query(path, "SELECT resolved_ms IS NOT NULL FROM incidents WHERE id = 7"), "1");  // orphan closed
  EXPECT_EQ(query(path, "SELECT count(*) FROM incidents WHERE id = " + std::to_string(ours)), "1");
}

TEST(state_keeper, ids_continue_after_a_restart) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  std::int64_t first = 0;
  {
    test::keeper_on_file f(path);
    f.open();
    first = f.keeper.open_incident(firing_alert(), "{}", wall_clock::now());
    f.keeper.save({});
    f.flush();
  }
  test::keeper_on_file f(path);
  f.open();
  ASSERT_EQ(f.keeper.incidents(wall_clock::now() - 1h).size(), 1u);
  EXPECT_GT(f.keeper.open_incident(firing_alert(), "{}", wall_clock::now()), first);
}

}  // namespace
}  // namespace vitals
