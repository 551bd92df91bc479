// The disk probe against this machine's real filesystems: a temp directory,
// a tmpfs, a missing path, a file, and a statvfs that hangs past the deadline
// (simulated by holding the only pool thread).

#include "probes/disk/disk_probe.hpp"

#include "support/as_nobody.hpp"
#include "support/pool_gate.hpp"
#include "support/run_probe.hpp"
#include "support/temp_env.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;

using test::describe;
using test::evidence_value;
using test::sample_value;
using test::temp_dir;

class disk_probe_run : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};

  ~disk_probe_run() override { pool.join(); }  // before io: pool work posts back to it

  disk_probe make(std::string path, disk_thresholds limits = {}) {
    return disk_probe(disk_probe::settings{std::move(path), limits}, ctx);
  }

  // The run's numbers must be what statvfs says for the same path now.
  static void expect_matches_statvfs(const std::string& path, const probe_result& r) {
    struct statvfs st {};
    ASSERT_EQ(::statvfs(path.c_str(), &st), 0);
    const double size = static_cast<double>(st.f_blocks) * static_cast<double>(st.f_frsize);
    const double free = static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize);
    EXPECT_EQ(sample_value(r, "vitals_disk_size_bytes"), size);
    // Others write to the same filesystem between the two calls.
    const double slack = 64.0 * 1024 * 1024;
    EXPECT_NEAR(*sample_value(r, "vitals_disk_free_bytes"), free, slack);
    if (st.f_files > 0) {
      ASSERT_TRUE(sample_value(r, "vitals_disk_free_inodes"));
      EXPECT_NEAR(*sample_value(r, "vitals_disk_free_inodes"), static_cast<double>(st.f_favail), 10000);
    }
  }
};

TEST_F(disk_probe_run, temp_dir_reports_space_and_its_mount) {
  temp_dir dir;
  auto p = make(dir.path());
  const auto r = test::run_once(io, p);
  ASSERT_TRUE(r.ok) << describe(r);
  const auto free = sample_value(r, "vitals_disk_free_bytes");
  const auto size = sample_value(r, "vitals_disk_size_bytes");
  const auto ratio = sample_value(r, "vitals_disk_free_ratio");
  ASSERT_TRUE(free && size && ratio) << describe(r);
  EXPECT_GT(*free, 0);
  EXPECT_GT(*size, 0);
  EXPECT_GT(*ratio, 0);
  EXPECT_LE(*ratio, 1);
  expect_matches_statvfs(dir.path(), r);
  EXPECT_NE(evidence_value(r, "mount"), "<absent>") << describe(r);
  EXPECT_EQ(evidence_value(r, "mount").front(), '/') << describe(r);
  EXPECT_NE(evidence_value(r, "filesystem"), "<absent>") << describe(r);
  EXPECT_NE(evidence_value(r, "free").find(" of "), std::string::npos) << describe(r);
  EXPECT_NE(evidence_value(r, "inodes"), "<absent>") << describe(r);
}

TEST_F(disk_probe_run, tmpfs_is_reported_as_tmpfs) {
  struct statvfs st {};
  if (::statvfs("/dev/shm", &st) != 0 || !std::filesystem::is_directory("/dev/shm"))
    GTEST_SKIP() << "no /dev/shm on this machine; the tmpfs case is not tested";
  auto p = make("/dev/shm");
  const auto r = test::run_once(io, p);
  ASSERT_TRUE(r.ok) << describe(r);
  if (evidence_value(r, "filesystem").rfind("tmpfs", 0) != 0)
    GTEST_SKIP() << "/dev/shm is not a tmpfs here (" << evidence_value(r, "filesystem") << ")";
  EXPECT_EQ(evidence_value(r, "mount"), "/dev/shm") << describe(r);
  expect_matches_statvfs("/dev/shm", r);
  EXPECT_GT(*sample_value(r, "vitals_disk_size_bytes"), 0);
}

TEST_F(disk_probe_run, missing_path_fails_with_missing_and_names_the_existing_parent) {
  temp_dir dir;
  const std::string path = dir.path() + "/not/there";
  auto p = make(path);
  const auto r = test::run_once(io, p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "missing");
  EXPECT_EQ(r.error, path + ": does not exist");
  EXPECT_EQ(evidence_value(r, "existing parent"), dir.path()) << describe(r);
  EXPECT_TRUE(r.samples.empty()) << "nothing measured, nothing reported";
}

TEST_F(disk_probe_run, path_under_a_file_fails_with_missing) {
  test::temp_file file("x");
  auto p = make(file.path() + "/sub");
  const auto r = test::run_once(io, p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "missing") << describe(r);
}

TEST_F(disk_probe_run, file_path_works) {
  test::temp_file file("some content");
  auto p = make(file.path());
  const auto r = test::run_once(io, p);
  ASSERT_TRUE(r.ok) << describe(r);
  expect_matches_statvfs(file.path(), r);
}

TEST(disk_probe_permission, unsearchable_parent_fails_with_permission) {
  // Root ignores directory permissions: measure as nobody, as an unprivileged daemon would.
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to uid 65534 (CI runs as root)";
  temp_dir dir;
  std::filesystem::create_directory(dir.path() + "/locked");
  std::filesystem::create_directory(dir.path() + "/locked/inner");
  std::filesystem::permissions(dir.path() + "/locked", std::filesystem::perms::none);
  const std::string path = dir.path() + "/locked/inner";
  const auto report = test::parse_report(test::run_as_nobody([&]() -> std::string {
    asio::io_context child_io;
    asio::thread_pool child_pool{1};
    probe_context child_ctx{child_io, child_pool};
    disk_probe::settings s;
    s.path = path;
    disk_probe p(s, child_ctx);
    const auto r = test::run_once(child_io, p);
    return "ok=" + std::string(r.ok ? "1" : "0") + "\nreason=" + r.reason + "\n";
  }));
  std::filesystem::permissions(dir.path() + "/locked", std::filesystem::perms::owner_all);
  ASSERT_EQ(report.count("error"), 0u) << report.at("error");
  EXPECT_EQ(report.at("ok"), "0");
  EXPECT_EQ(report.at("reason"), "permission");
}

TEST_F(disk_probe_run, min_free_ratio_of_one_fails_with_low_space) {
  temp_dir dir;
  auto p = make(dir.path(), {.min_free_ratio = 1.0});
  const auto r = test::run_once(io, p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "low_space");
  // "/tmp/vitals_disk_x: 41% free (20.3 GiB of 49.0 GiB), below 100%"
  EXPECT_EQ(r.error.rfind(dir.path() + ": ", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("% free ("), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(" of "), std::string::npos) << r.error;
  EXPECT_TRUE(r.error.ends_with("), below 100%")) << r.error;
  EXPECT_TRUE(sample_value(r, "vitals_disk_free_bytes")) << "samples are reported on failure too";
}

TEST_F(disk_probe_run, huge_min_free_fails_with_low_space) {
  temp_dir dir;
  auto p = make(dir.path(), {.min_free = std::uint64_t{1} << 62});
  const auto r = test::run_once(io, p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "low_space");
  EXPECT_TRUE(r.error.ends_with(", below 4.0 EiB")) << r.error;
}

TEST_F(disk_probe_run, hung_statvfs_returns_at_the_deadline_and_the_next_run_reuses_the_call) {
  temp_dir dir;
  auto p = make(dir.path());
  test::pool_gate gate(pool);  // the pool's only thread is busy: statvfs cannot start

  const auto started = std::chrono::steady_clock::now();
  const auto first = test::run_with_deadline(io, p, 100ms);
  EXPECT_FALSE(first) << "the deadline must win while statvfs is stuck";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s) << "a cancelled run returns promptly";

  // Still stuck: the next run waits for the same call and times out again.
  EXPECT_FALSE(test::run_with_deadline(io, p, 50ms));

  gate.release();
  const auto later = test::run_with_deadline(io, p, 10s);
  ASSERT_TRUE(later);
  EXPECT_TRUE(later->ok) << describe(*later);
}

TEST_F(disk_probe_run, probe_destroyed_while_statvfs_hangs_is_safe) {
  temp_dir dir;
  test::pool_gate gate(pool);
  {
    auto p = make(dir.path());
    EXPECT_FALSE(test::run_with_deadline(io, p, 50ms));
  }
  gate.release();
  pool.join();  // the abandoned call finishes and posts to the loop
  io.restart();
  io.run();  // its result lands in a call nobody waits for
}

}  // namespace
}  // namespace vitals
