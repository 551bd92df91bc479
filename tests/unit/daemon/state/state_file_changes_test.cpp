// The state file changed behind the daemon's back: deleted, replaced by
// another file, emptied, or empty from the start. A file that is gone from
// its path is noticed at the next write and everything the daemon holds in
// memory is written again; a file with nothing left in it is never taken
// for a new one (it is refused, like any file that cannot be read).

#include "daemon/state/state_keeper.hpp"
#include "daemon/state/state_store.hpp"

#include "support/temp_env.hpp"
#include "support/keeper_on_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using alerts::wall_clock;

const auto t0 = wall_clock::time_point{} + std::chrono::hours(24 * 365 * 56);

incident an_incident(std::int64_t id) {
  incident i;
  i.id = id;
  i.alertname = "ProbeDown";
  i.severity = "high";
  i.started = t0;
  return i;
}

alerts::alert_instance alert_on(const std::string& probe) {
  auto a = test::probe_down_on(probe);
  a.active_since = a.fired_at = a.last_seen = t0;
  return a;
}

std::vector<saved_alert> firing_on(std::initializer_list<std::string> probes) {
  std::vector<saved_alert> out;
  for (const auto& p : probes) out.push_back({alert_on(p), "vitals_probe_up == 0"});
  return out;
}

// What the file holds, read with a store of its own, as `vitalsd incidents` would.
std::vector<incident> stored_incidents(const std::string& path) {
  state_store check(path, state_store::mode::read_only);
  auto loaded = check.load_incidents(wall_clock::time_point{}, 100);
  EXPECT_TRUE(loaded) << check.problem();
  return loaded.value_or(std::vector<incident>{});
}

std::vector<std::int64_t> ids_of(const std::vector<incident>& list) {
  std::vector<std::int64_t> out;
  for (const auto& i : list) out.push_back(i.id);
  return out;
}

std::size_t stored_alerts(const std::string& path) {
  state_store check(path, state_store::mode::read_only);
  return check.load_alerts().value_or(std::vector<saved_alert>{}).size();
}

// `rm state.db*`
void remove_state_files(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// --- state_store -----------------------------------------------------------

TEST(state_store, a_file_deleted_while_open_is_reported_lost_and_the_next_call_starts_a_new_one) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  state_store store(path);
  ASSERT_TRUE(store.save({}, {an_incident(1)})) << store.problem();
  remove_state_files(path);

  EXPECT_FALSE(store.save({}, {an_incident(2)}));
  EXPECT_TRUE(store.lost_file());
  EXPECT_TRUE(contains(store.problem(), path + " was deleted")) << store.problem();

  ASSERT_TRUE(store.save({}, {an_incident(2)})) << store.problem();
  EXPECT_FALSE(store.lost_file());
  EXPECT_EQ(ids_of(stored_incidents(path)), (std::vector<std::int64_t>{2}));  // a new file
}

TEST(state_store, a_file_replaced_while_open_is_reported_lost_and_the_new_one_is_read_as_it_is) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  state_store store(path);
  ASSERT_TRUE(store.save({}, {an_incident(1)})) << store.problem();
  {
    state_store other(dir.path() + "/other.db");
    ASSERT_TRUE(other.save({}, {an_incident(42)})) << other.problem();
  }
  std::filesystem::rename(dir.path() + "/other.db", path);  // a backup put back, say

  EXPECT_FALSE(store.save({}, {an_incident(2)}));
  EXPECT_TRUE(store.lost_file());
  EXPECT_TRUE(contains(store.problem(), path + " was replaced")) << store.problem();
  // The old file's WAL went with it: nothing of it is read into the new one.
  const auto loaded = store.load_incidents(wall_clock::time_point{}, 100);
  ASSERT_TRUE(loaded) << store.problem();
  EXPECT_EQ(ids_of(*loaded), (std::vector<std::int64_t>{42}));
}

TEST(state_store, an_empty_file_is_refused_and_left_empty) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  std::ofstream{path};  // 0 bytes: truncated after a checkpoint, say

  state_store store(path);
  EXPECT_FALSE(store.ok());
  EXPECT_TRUE(contains(store.problem(), path + " is empty")) << store.problem();
  EXPECT_FALSE(store.save({}, {an_incident(1)}));
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));

  state_store reader(path, state_store::mode::read_only);  // `vitalsd incidents`
  EXPECT_FALSE(reader.ok());
  EXPECT_TRUE(contains(reader.problem(), path + " is empty")) << reader.problem();
}

TEST(state_store, a_file_emptied_while_open_is_reported_lost_then_refused_and_left_empty) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  state_store store(path);
  ASSERT_TRUE(store.save({}, {an_incident(1)})) << store.problem();  // in the WAL, not yet in the file
  std::filesystem::resize_file(path, 0);

  EXPECT_FALSE(store.save({}, {an_incident(2)}));
  EXPECT_TRUE(store.lost_file());
  EXPECT_TRUE(contains(store.problem(), path + " was emptied")) << store.problem();
  // Not checkpointed into the empty file on the way out, and not replayed into it later.
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  EXPECT_FALSE(store.save({}, {an_incident(2)}));
  EXPECT_TRUE(contains(store.problem(), path + " is empty")) << store.problem();
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
}

// --- state_keeper ----------------------------------------------------------

TEST(state_keeper, a_state_file_deleted_while_running_is_written_again_with_everything_in_memory) {
  test::temp_dir dir;
  test::keeper_on_file f(dir.path() + "/state.db");
  f.open();
  const auto now = std::chrono::floor<std::chrono::milliseconds>(wall_clock::now());
  const auto api = f.keeper.open_incident(alert_on("api"), "{}", now);
  const auto db = f.keeper.open_incident(alert_on("db"), "{}", now + 1s);
  f.keeper.resolve_incident(api, now + 2s);
  f.keeper.save(firing_on({"db"}));
  f.flush();
  ASSERT_EQ(ids_of(stored_incidents(f.path)), (std::vector<std::int64_t>{api, db}));

  remove_state_files(f.path);
  const auto web = f.keeper.open_incident(alert_on("web"), "{}", now + 3s);
  f.keeper.save(firing_on({"db", "web"}));
  f.flush();

  EXPECT_TRUE(f.keeper.healthy());
  EXPECT_EQ(f.healthy_gauge(), "1");
  const auto stored = stored_incidents(f.path);
  ASSERT_EQ(ids_of(stored), (std::vector<std::int64_t>{api, db, web}));
  EXPECT_EQ(stored[0].resolved, now + 2s);
  EXPECT_EQ(stored_alerts(f.path), 2u);
}

TEST(state_keeper, a_state_file_deleted_with_its_directory_marks_the_store_failing_until_it_can_be_made_again) {
  test::temp_dir dir;
  const auto folder = dir.path() + "/state";
  std::filesystem::create_directory(folder);
  test::keeper_on_file f(folder + "/state.db");
  f.open();
  const auto now = std::chrono::floor<std::chrono::milliseconds>(wall_clock::now());
  const auto api = f.keeper.open_incident(alert_on("api"), "{}", now);
  f.keeper.save(firing_on({"api"}));
  f.flush();
  ASSERT_TRUE(f.keeper.healthy());

  std::filesystem::remove_all(folder);
  f.keeper.save(firing_on({"api"}));
  f.flush();
  EXPECT_FALSE(f.keeper.healthy());  // noticed, and a new file cannot be made
  EXPECT_EQ(f.healthy_gauge(), "0");

  std::filesystem::create_directory(folder);
  f.keeper.save(firing_on({"api"}));
  f.flush();
  EXPECT_TRUE(f.keeper.healthy());
  EXPECT_EQ(ids_of(stored_incidents(f.path)), (std::vector<std::int64_t>{api}));
  EXPECT_EQ(stored_alerts(f.path), 1u);
}

TEST(state_keeper, a_state_file_replaced_while_running_is_read_then_written_with_everything_in_memory) {
  test::temp_dir dir;
  test::keeper_on_file f(dir.path() + "/state.db");
  f.open();
  const auto now = std::chrono::floor<std::chrono::milliseconds>(wall_clock::now());
  const auto api = f.keeper.open_incident(alert_on("api"), "{}", now);
  f.keeper.save(firing_on({"api"}));
  f.flush();
  {
    // Another file with an incident left open by a run whose alerts are not ours.
    state_store other(dir.path() + "/other.db");
    auto theirs = an_incident(api + 1000);
    theirs.started = now - 1h;
    ASSERT_TRUE(other.save({}, {theirs})) << other.problem();
  }
  std::filesystem::rename(dir.path() + "/other.db", f.path);

  f.keeper.save(firing_on({"api"}));
  f.flush();
  EXPECT_TRUE(f.keeper.healthy());
  const auto stored = stored_incidents(f.path);
  ASSERT_EQ(ids_of(stored), (std::vector<std::int64_t>{api, api + 1000}));
  EXPECT_FALSE(stored[0].resolved);
  EXPECT_TRUE(stored[1].resolved);  // no alert of this run can close it: closed now
  EXPECT_EQ(stored_alerts(f.path), 1u);
  EXPECT_GT(f.keeper.open_incident(alert_on("db"), "{}", now), api + 1000);  // ids never repeat
}

}  // namespace
}  // namespace vitals
