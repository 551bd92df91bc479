// The state files are private to the daemon's user whatever the umask it
// was started with: real files, made by the store and by SQLite, under a
// umask of 022 (what a shell usually has).

#include "daemon/state/state_store.hpp"

#include "support/temp_env.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace vitals {
namespace {

// Sets the process umask for one test and puts the old one back.
class scoped_umask {
public:
  explicit scoped_umask(mode_t m) : old_(::umask(m)) {}
  ~scoped_umask() { ::umask(old_); }
  scoped_umask(const scoped_umask&) = delete;
  scoped_umask& operator=(const scoped_umask&) = delete;

private:
  mode_t old_;
};

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

incident an_incident() {
  incident i;
  i.id = 1;
  i.alertname = "ProbeDown";
  i.severity = "high";
  i.labels = {{"probe", "api"}};
  i.started = alerts::wall_clock::now();
  i.evidence_json = R"({"cause":"refused"})";
  return i;
}

TEST(state_file_modes, the_database_and_its_wal_and_shm_are_0600_under_umask_022) {
  test::temp_dir dir;
  const scoped_umask shell_like(022);
  const auto path = dir.path() + "/state.db";
  state_store store(path);
  // A write while the connection is open: the -wal and -shm exist now.
  ASSERT_TRUE(store.save({}, {an_incident()})) << store.problem();
  for (const auto* suffix : {"", "-wal", "-shm"}) {
    ASSERT_TRUE(std::filesystem::exists(path + suffix)) << suffix;
    EXPECT_EQ(mode_of(path + suffix), 0600u) << path + suffix;
  }
}

TEST(state_file_modes, a_file_made_under_a_umask_that_takes_the_owners_write_is_still_0600_and_written) {
  test::temp_dir dir;
  const scoped_umask strict(0277);
  const auto path = dir.path() + "/state.db";
  state_store store(path);
  EXPECT_TRUE(store.save({}, {an_incident()})) << store.problem();
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST(state_file_modes, an_existing_file_keeps_its_mode) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  { state_store made(path); }
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  state_store store(path);
  ASSERT_TRUE(store.ok()) << store.problem();
  EXPECT_EQ(mode_of(path), 0640u);
}

TEST(state_file_modes, private_directory_and_file_give_no_warning) {
  test::temp_dir dir;  // mkdtemp makes it 0700
  const auto path = dir.path() + "/state.db";
  { state_store made(path); }
  EXPECT_EQ(exposure_warning(path), std::nullopt);
}

TEST(state_file_modes, a_directory_others_can_enter_is_warned_about_with_the_command_that_closes_it) {
  test::temp_dir dir;
  const auto folder = dir.path() + "/state";
  ASSERT_EQ(::mkdir(folder.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(folder.c_str(), 0755), 0);
  const auto path = folder + "/state.db";
  { state_store made(path); }
  const auto warning = exposure_warning(path);
  ASSERT_TRUE(warning);
  EXPECT_NE(warning->find(folder + " is mode 0755"), std::string::npos) << *warning;
  EXPECT_NE(warning->find("chmod 700 " + folder), std::string::npos) << *warning;
  EXPECT_EQ(warning->find('\n'), std::string::npos);
  EXPECT_EQ(mode_of(folder), 0755u);  // warned about, not changed
}

TEST(state_file_modes, a_file_others_can_read_is_warned_about) {
  test::temp_dir dir;
  const auto path = dir.path() + "/state.db";
  { state_store made(path); }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  const auto warning = exposure_warning(path);
  ASSERT_TRUE(warning);
  EXPECT_NE(warning->find(path + " is mode 0644"), std::string::npos) << *warning;
  EXPECT_NE(warning->find("chmod 600 " + path), std::string::npos) << *warning;
}

}  // namespace
}  // namespace vitals
