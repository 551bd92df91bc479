// The memory limit of a process' control groups, read from a fake
// /sys/fs/cgroup in a temporary directory: v2, v1, both, and none.

#include "probes/core/cgroup_memory.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

namespace vitals {
namespace {

namespace fs = std::filesystem;

class cgroup_memory_fake_root : public ::testing::Test {
protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("vitals-cgroup-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root);
  }
  void TearDown() override { fs::remove_all(root); }

  void write(const fs::path& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }

  fs::path root;
};

TEST(cgroup_paths, reads_the_v2_path_and_the_v1_memory_path) {
  const auto p = parse_cgroup_paths("12:cpu,cpuacct:/x\n4:memory:/docker/abc\n0::/system.slice/app.service\n");
  EXPECT_EQ(p.v2, "/system.slice/app.service");
  EXPECT_EQ(p.v1_memory, "/docker/abc");
  const auto v1_only = parse_cgroup_paths("5:blkio:/a\n3:cpuset,memory:/b\n");
  EXPECT_FALSE(v1_only.v2);
  EXPECT_EQ(v1_only.v1_memory, "/b");
  const auto none = parse_cgroup_paths("garbage\n\n1:name=systemd:/c\n");
  EXPECT_FALSE(none.v2);
  EXPECT_FALSE(none.v1_memory);
}

TEST_F(cgroup_memory_fake_root, v2_takes_the_tightest_memory_max_up_to_the_root) {
  write("system.slice/memory.max", "1073741824\n");
  write("system.slice/memory.current", "900000000\n");
  write("system.slice/app.service/memory.max", "max\n");
  cgroup_memory_reader reader(root.string());
  const auto& m = reader.of({.v2 = "/system.slice/app.service", .v1_memory = {}});
  EXPECT_EQ(m.max, 1073741824u);
  EXPECT_EQ(m.current, 900000000u);
  EXPECT_EQ(m.limited_by, "/system.slice");
}

TEST_F(cgroup_memory_fake_root, v1_reads_limit_in_bytes_and_ignores_its_no_limit_value) {
  write("memory/memory.limit_in_bytes", "9223372036854771712\n");  // the root: "no limit"
  write("memory/docker/memory.limit_in_bytes", "9223372036854771712\n");
  write("memory/docker/abc/memory.limit_in_bytes", "536870912\n");
  write("memory/docker/abc/memory.usage_in_bytes", "123456\n");
  cgroup_memory_reader reader(root.string());
  const auto& m = reader.of({.v2 = {}, .v1_memory = "/docker/abc"});
  EXPECT_EQ(m.max, 536870912u);
  EXPECT_EQ(m.current, 123456u);
  EXPECT_EQ(m.limited_by, "/docker/abc");
}

TEST_F(cgroup_memory_fake_root, with_both_hierarchies_the_tighter_limit_wins) {
  write("a/memory.max", "2000000\n");
  write("memory/b/memory.limit_in_bytes", "1000000\n");
  cgroup_memory_reader reader(root.string());
  EXPECT_EQ(reader.of({.v2 = "/a", .v1_memory = "/b"}).max, 1000000u);
}

TEST_F(cgroup_memory_fake_root, no_limit_anywhere_and_paths_outside_the_namespace_give_none) {
  write("user.slice/memory.max", "max\n");
  cgroup_memory_reader reader(root.string());
  EXPECT_FALSE(reader.of({.v2 = "/user.slice", .v1_memory = {}}).max);
  write("secret/memory.max", "1000\n");
  EXPECT_FALSE(reader.of({.v2 = "/../secret", .v1_memory = {}}).max);
}

TEST_F(cgroup_memory_fake_root, a_process_is_found_through_its_proc_cgroup_file) {
  write("sys/app/memory.max", "4096000\n");
  write("proc/42/cgroup", "0::/app\n");
  cgroup_memory_reader reader((root / "sys").string());
  EXPECT_EQ(reader.of_pid(42, (root / "proc").string()).max, 4096000u);
  EXPECT_FALSE(reader.of_pid(43, (root / "proc").string()).max);  // no such process
}

TEST_F(cgroup_memory_fake_root, usage_is_read_every_run_and_the_limit_again_once_it_is_old) {
  write("app/memory.max", "4096000\n");
  write("app/memory.current", "1000\n");
  cgroup_memory_reader reader(root.string());
  const cgroup_paths app{.v2 = "/app", .v1_memory = {}};
  EXPECT_EQ(reader.of(app).current, 1000u);

  write("app/memory.current", "2000\n");
  write("app/memory.max", "8192000\n");
  EXPECT_EQ(reader.of(app).current, 1000u);  // the same run: read once
  reader.next_run();
  EXPECT_EQ(reader.of(app).current, 2000u);  // usage: every run
  EXPECT_EQ(reader.of(app).max, 4096000u);   // the limit: still the one read 0 s ago

  reader.set_limits_max_age(std::chrono::seconds(0));
  reader.next_run();
  EXPECT_EQ(reader.of(app).max, 8192000u);  // older than the max age: walked again
}

TEST_F(cgroup_memory_fake_root, a_cgroup_no_run_asked_for_is_forgotten) {
  write("a/memory.max", "1000000\n");
  cgroup_memory_reader reader(root.string());
  const cgroup_paths a{.v2 = "/a", .v1_memory = {}};
  EXPECT_EQ(reader.of(a).max, 1000000u);
  write("a/memory.max", "2000000\n");
  reader.next_run();  // a run that did not ask for /a
  reader.next_run();
  EXPECT_EQ(reader.of(a).max, 2000000u);  // read afresh, not the remembered limit
}

}  // namespace
}  // namespace vitals
