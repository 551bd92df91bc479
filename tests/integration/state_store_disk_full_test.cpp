// The state store on a real filesystem that fills up: a 256 KiB tmpfs,
// filled with a file until nothing is left. Writes fail while it is full;
// once the file is deleted, the store cuts its WAL back before it reports
// healthy, every incident opened or resolved meanwhile is in the file, and
// the WAL does not grow back over the room that was freed. Mounting needs
// root: the tests skip, saying so, without it.

#include "daemon/state/state_keeper.hpp"
#include "daemon/state/state_store.hpp"

#include "support/temp_env.hpp"
#include "support/keeper_on_file.hpp"

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using alerts::wall_clock;

alerts::alert_instance alert_on(const std::string& probe) { return test::probe_down_on(probe); }

class state_store_disk_full : public ::testing::Test {
protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=256k,mode=0700") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs on " << dir_.path() << ": " << std::strerror(errno);
    mounted_ = true;
  }

  void TearDown() override {
    // Lazily, so a store a failed test left open cannot keep it mounted.
    if (!mounted_) return;
    EXPECT_EQ(::umount2(dir_.path().c_str(), MNT_DETACH), 0) << std::strerror(errno);
  }

  std::string path(const char* name) const { return dir_.path() + "/" + name; }

  // Writes a file until the filesystem has no room left.
  void fill() {
    std::ofstream filler(path("filler"), std::ios::binary);
    const std::string block(4096, 'x');
    while (filler.write(block.data(), block.size()) && filler.flush()) {
    }
    std::ofstream tail(path("filler-tail"), std::ios::binary);  // the last partial block
    while (tail.put('x') && tail.flush()) {
    }
  }

  void free_room() {
    std::filesystem::remove(path("filler"));
    std::filesystem::remove(path("filler-tail"));
  }

  std::uintmax_t wal_size() const {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path("state.db-wal"), ec);
    return ec ? 0 : n;
  }

private:
  test::temp_dir dir_;
  bool mounted_ = false;
};

// One change the daemon would save: an incident opens, the one before it resolves.
struct incident_churn {
  explicit incident_churn(test::keeper_on_file& keeper) : f(keeper) {}

  test::keeper_on_file& f;
  wall_clock::time_point now = std::chrono::floor<std::chrono::milliseconds>(wall_clock::now());
  std::vector<std::int64_t> ids;

  void step() {
    now += 1s;
    if (!ids.empty()) f.keeper.resolve_incident(ids.back(), now);
    const auto probe = "probe-" + std::to_string(ids.size());
    ids.push_back(f.keeper.open_incident(alert_on(probe), R"({"cause":"refused"})", now));
    f.keeper.save({{alert_on(probe), "vitals_probe_up == 0"}});
    f.flush();
  }
};

TEST_F(state_store_disk_full, every_incident_from_while_the_disk_was_full_is_in_the_file_once_it_has_room) {
  test::keeper_on_file f(path("state.db"));
  f.open();
  incident_churn churn(f);
  for (int n = 0; n < 3; ++n) churn.step();
  ASSERT_TRUE(f.keeper.healthy());

  fill();
  for (int n = 0; n < 100 && f.keeper.healthy(); ++n) churn.step();
  ASSERT_FALSE(f.keeper.healthy()) << "writes never failed on a full filesystem";
  EXPECT_EQ(f.healthy_gauge(), "0");
  for (int n = 0; n < 5; ++n) churn.step();  // kept in memory only

  free_room();
  churn.step();
  ASSERT_TRUE(f.keeper.healthy());
  EXPECT_EQ(f.healthy_gauge(), "1");
  // Cut back before the store said it works: what is left is about this
  // one write. (The WAL the full disk left may hold only a failed write's
  // frames, which the next write starts over at its first frame, so its
  // size is no yardstick; the_wal_does_not_grow_back_... below is the test
  // of growth.)
  EXPECT_LT(wal_size(), 64u * 1024);

  state_store check(path("state.db"), state_store::mode::read_only);
  const auto stored = check.load_incidents(wall_clock::time_point{}, 1000);
  ASSERT_TRUE(stored) << check.problem();
  ASSERT_EQ(stored->size(), churn.ids.size());
  for (std::size_t n = 0; n < churn.ids.size(); ++n) {
    EXPECT_EQ((*stored)[n].id, churn.ids[n]);
    EXPECT_EQ((*stored)[n].resolved.has_value(), n + 1 < churn.ids.size()) << "incident " << churn.ids[n];
  }
}

TEST_F(state_store_disk_full, the_wal_does_not_grow_back_over_the_room_that_was_freed) {
  test::keeper_on_file f(path("state.db"));
  f.open();
  incident_churn churn(f);
  fill();
  churn.step();
  ASSERT_FALSE(f.keeper.healthy()) << "a write succeeded on a full filesystem";
  free_room();

  // Far more writes than the filesystem could hold as one growing WAL.
  for (int n = 0; n < 150; ++n) {
    churn.step();
    ASSERT_TRUE(f.keeper.healthy()) << "write " << n << " failed; WAL at " << wal_size() << " bytes";
  }
  EXPECT_LT(wal_size(), 128u * 1024);
}

TEST_F(state_store_disk_full, a_state_file_that_could_not_be_made_on_a_full_disk_is_made_once_there_is_room) {
  fill();
  test::keeper_on_file f(path("state.db"));
  f.open();
  EXPECT_FALSE(f.keeper.healthy());
  incident_churn churn(f);
  churn.step();

  free_room();
  churn.step();
  EXPECT_TRUE(f.keeper.healthy());  // not refused as an empty file: it was ours, and never written
  state_store check(path("state.db"), state_store::mode::read_only);
  const auto stored = check.load_incidents(wall_clock::time_point{}, 1000);
  ASSERT_TRUE(stored) << check.problem();
  EXPECT_EQ(stored->size(), 2u);
}

}  // namespace
}  // namespace vitals
