// The /proc parsers, and scan_processes() over a fake /proc tree in a temp
// dir: zombies, vanished entries, pidfiles and cgroup limits without
// needing real processes in those states.

#include "probes/process/process_scan.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

namespace vitals {
namespace {

namespace fs = std::filesystem;

std::string stat_line(int pid, const std::string& comm, char state, std::uint64_t utime, std::uint64_t stime,
                      std::uint64_t start, std::int64_t rss_pages) {
  // Fields 1..24 of proc(5); the ones we do not read are 0.
  std::string s = std::to_string(pid) + " (" + comm + ") " + state + " 1 1 1 0 -1 4194304 0 0 0 0 " +
                  std::to_string(utime) + " " + std::to_string(stime) + " 0 0 20 0 1 0 " + std::to_string(start) +
                  " 123456 " + std::to_string(rss_pages) + " 18446744073709551615 0 0\n";
  return s;
}

TEST(process_scan, parses_stat_with_spaces_and_parens_in_comm) {
  const auto s = parse_proc_stat(stat_line(42, "my (odd) proc", 'S', 150, 50, 99887, 2560));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->comm, "my (odd) proc");
  EXPECT_EQ(s->state, 'S');
  EXPECT_EQ(s->utime_ticks, 150u);
  EXPECT_EQ(s->stime_ticks, 50u);
  EXPECT_EQ(s->start_ticks, 99887u);
  EXPECT_EQ(s->rss_pages, 2560);
}

TEST(process_scan, rejects_a_truncated_stat) {
  EXPECT_FALSE(parse_proc_stat("42 (node) S 1 1").has_value());
  EXPECT_FALSE(parse_proc_stat("").has_value());
}

TEST(process_scan, reads_the_soft_open_files_limit) {
  const std::string limits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n"
      "Max open files            1024                 524288               files     \n";
  EXPECT_EQ(parse_max_open_files(limits), 1024u);
  EXPECT_FALSE(parse_max_open_files("Max open files            unlimited            unlimited  files\n"));
  EXPECT_FALSE(parse_max_open_files("Max processes 10 10\n"));
}

TEST(process_scan, describes_the_matcher_in_config_order) {
  process_matcher m;
  m.name = "node";
  m.cmdline = "server\\.js";
  m.user = "www-data";
  EXPECT_EQ(m.describe(), "name=node,cmdline=server\\.js,user=www-data");
}

class process_scan_fake_proc : public ::testing::Test {
protected:
  fs::path root = fs::temp_directory_path() / ("vitals_process_scan_fake_proc_" + std::to_string(::getpid()) + "_" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::path proc = root / "proc";
  fs::path cgroup = root / "cgroup";

  void SetUp() override {
    fs::remove_all(root);
    fs::create_directories(proc);
    fs::create_directories(cgroup);
  }
  void TearDown() override { fs::remove_all(root); }

  static void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }

  // A complete /proc/<pid> entry with `fds` fd links.
  void add_process(int pid, const std::string& comm, char state, std::int64_t rss_pages, int fds,
                   const std::string& cmdline, const std::string& cgroup_path = "/") {
    const fs::path dir = proc / std::to_string(pid);
    write(dir / "stat", stat_line(pid, comm, state, 100, 100, 1000 + pid, rss_pages));
    write(dir / "status", "Name:\t" + comm + "\nUmask:\t0022\nState:\tS\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n");
    std::string argv = cmdline;
    std::replace(argv.begin(), argv.end(), ' ', '\0');
    write(dir / "cmdline", argv + std::string(1, '\0'));
    fs::create_directories(dir / "fd");
    for (int i = 0; i < fds; ++i) write(dir / "fd" / std::to_string(i), "");
    write(dir / "limits", "Max open files            " + std::to_string(4096 - pid) + "  8192  files\n");
    write(dir / "cgroup", "0::" + cgroup_path + "\n");
  }

  process_scan_result scan(const process_matcher& m) { return scan_processes(m, proc.string(), cgroup.string()); }
};

TEST_F(process_scan_fake_proc, measures_a_match_from_its_proc_files) {
  add_process(10, "vfake_node", 'S', 256, 3, "node server.js");
  add_process(11, "vfake_other", 'S', 512, 1, "other");
  process_matcher m;
  m.name = "vfake_node";
  const auto r = scan(m);
  ASSERT_EQ(r.matches.size(), 1u);
  const auto& p = r.matches[0];
  EXPECT_EQ(p.key.pid, 10);
  EXPECT_EQ(p.key.start_ticks, 1010u);
  EXPECT_EQ(p.rss_bytes, 256u * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(p.open_fds, 3u);
  EXPECT_EQ(p.max_fds, 4086u);
  EXPECT_EQ(p.cmdline, "node server.js");
  EXPECT_EQ(p.user, "root");
  EXPECT_NEAR(p.cpu_seconds, 200.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)), 1e-9);
}

TEST_F(process_scan_fake_proc, zombies_are_skipped_and_counted) {
  add_process(10, "vfake_node", 'Z', 0, 0, "");
  add_process(11, "vfake_node", 'S', 10, 0, "node");
  process_matcher m;
  m.name = "vfake_node";
  const auto r = scan(m);
  EXPECT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.zombies, 1u);
}

TEST_F(process_scan_fake_proc, an_entry_without_files_counts_as_vanished) {
  fs::create_directories(proc / "12");  // listed, then gone before we read it
  write(proc / "13" / "stat", "");      // exited between open and read
  add_process(14, "vfake_node", 'R', 10, 0, "node");
  process_matcher m;
  m.name = "vfake_node";
  const auto r = scan(m);
  EXPECT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.vanished, 2u);
}

TEST_F(process_scan_fake_proc, cmdline_regex_is_searched_in_the_joined_argv) {
  add_process(10, "node", 'S', 10, 0, "node /srv/app/server.js --port 3000");
  add_process(11, "node", 'S', 10, 0, "node /srv/app/worker.js");
  process_matcher m;
  m.cmdline = "server\\.js --port";
  std::string why;
  m.cmdline_regex = user_regex::compile(*m.cmdline, user_regex::anchoring::search, why);
  const auto r = scan(m);
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].key.pid, 10);
}

TEST_F(process_scan_fake_proc, a_pathological_pattern_on_a_huge_command_line_finishes) {
  // (a+)+$ takes exponential time in a backtracking engine; RE2 is linear.
  add_process(10, "node", 'S', 10, 0, std::string(1 << 20, 'a') + "!");
  process_matcher m;
  m.cmdline = "(a+)+$";
  std::string why;
  m.cmdline_regex = user_regex::compile(*m.cmdline, user_regex::anchoring::search, why);
  ASSERT_TRUE(m.cmdline_regex) << why;
  EXPECT_EQ(scan(m).matches.size(), 0u);
}

TEST_F(process_scan_fake_proc, a_missing_pidfile_is_explained) {
  process_matcher m;
  m.pidfile = (root / "app.pid").string();
  const auto r = scan(m);
  EXPECT_TRUE(r.matches.empty());
  EXPECT_EQ(r.pidfile_problem, "pidfile " + *m.pidfile + ": No such file or directory");
}

TEST_F(process_scan_fake_proc, a_stale_pidfile_is_explained) {
  write(root / "app.pid", "4242\n");
  process_matcher m;
  m.pidfile = (root / "app.pid").string();
  const auto r = scan(m);
  EXPECT_TRUE(r.matches.empty());
  EXPECT_EQ(r.pidfile_problem, "pidfile " + *m.pidfile + " names pid 4242, which is not running");
}

TEST_F(process_scan_fake_proc, a_pidfile_without_a_pid_is_explained) {
  write(root / "app.pid", "garbage\n");
  process_matcher m;
  m.pidfile = (root / "app.pid").string();
  EXPECT_EQ(scan(m).pidfile_problem, "pidfile " + *m.pidfile + " holds no pid (\"garbage\")");
}

TEST_F(process_scan_fake_proc, a_pidfile_selects_its_pid_only) {
  add_process(10, "vfake_node", 'S', 10, 0, "node");
  add_process(11, "vfake_node", 'S', 10, 0, "node");
  write(root / "app.pid", "11\n");
  process_matcher m;
  m.pidfile = (root / "app.pid").string();
  m.name = "vfake_node";
  const auto r = scan(m);
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].key.pid, 11);
  EXPECT_TRUE(r.pidfile_problem.empty());
}

TEST_F(process_scan_fake_proc, the_tightest_cgroup_memory_max_on_the_path_applies) {
  add_process(10, "vfake_node", 'S', 10, 0, "node", "/system.slice/app.service");
  write(cgroup / "system.slice" / "memory.max", "1073741824\n");
  write(cgroup / "system.slice" / "memory.current", "900000000\n");
  write(cgroup / "system.slice" / "app.service" / "memory.max", "max\n");
  process_matcher m;
  m.name = "vfake_node";
  const auto r = scan(m);
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].cgroup_memory_max, 1073741824u);
  EXPECT_EQ(r.matches[0].cgroup_memory_current, 900000000u);
  EXPECT_EQ(r.matches[0].cgroup_limited_by, "/system.slice");
}

TEST_F(process_scan_fake_proc, a_cgroup_v1_memory_limit_applies_too) {
  add_process(10, "vfake_node", 'S', 10, 0, "node");
  write(proc / "10" / "cgroup", "7:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n");
  write(cgroup / "memory" / "docker" / "abc" / "memory.limit_in_bytes", "536870912\n");
  write(cgroup / "memory" / "docker" / "abc" / "memory.usage_in_bytes", "1234\n");
  process_matcher m;
  m.name = "vfake_node";
  const auto r = scan(m);
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].cgroup, "/docker/abc");
  EXPECT_EQ(r.matches[0].cgroup_memory_max, 536870912u);
  EXPECT_EQ(r.matches[0].cgroup_memory_current, 1234u);
}

TEST_F(process_scan_fake_proc, no_memory_max_means_no_limit) {
  add_process(10, "vfake_node", 'S', 10, 0, "node", "/user.slice");
  write(cgroup / "user.slice" / "memory.max", "max\n");
  process_matcher m;
  m.name = "vfake_node";
  const auto r = scan(m);
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_FALSE(r.matches[0].cgroup_memory_max.has_value());
}

// --- what a scanner remembers between scans ------------------------------------

class process_scanner_fake_proc : public process_scan_fake_proc {
protected:
  process_scanner make(const std::string& name, process_scanner::timing t = {}) {
    process_matcher m;
    m.name = name;
    return process_scanner(m, proc.string(), cgroup.string(), t);
  }
  // Writes pid's entry anew under a fresh directory inode, as the kernel
  // shows a new process that got an old pid: built beside, then renamed
  // over, so the old inode cannot be handed out again meanwhile.
  void replace_process(int pid, const std::string& comm) {
    const auto dir = proc / std::to_string(pid);
    const auto staging = root / "staging";
    fs::rename(dir, staging);
    add_process(pid, comm, 'S', 10, 0, comm);
    fs::remove_all(staging);
  }
};

TEST_F(process_scanner_fake_proc, a_second_scan_reads_the_matches_only) {
  add_process(10, "vfake_node", 'S', 10, 0, "node");
  add_process(11, "vfake_other", 'S', 10, 0, "other");
  add_process(12, "vfake_other", 'S', 10, 0, "other");
  auto scanner = make("vfake_node");

  const auto first = scanner.scan();
  const auto second = scanner.scan();

  EXPECT_EQ(first.pids_read, 3u);
  EXPECT_EQ(second.pids_read, 1u);
  ASSERT_EQ(second.matches.size(), 1u);
  EXPECT_EQ(second.matches[0].key.pid, 10);
  EXPECT_EQ(second.matches[0].cmdline, "node");
  EXPECT_EQ(second.matches[0].max_fds, 4086u);
}

TEST_F(process_scanner_fake_proc, a_known_match_is_measured_afresh_on_every_scan) {
  add_process(10, "vfake_node", 'S', 10, 1, "node");
  auto scanner = make("vfake_node");
  scanner.scan();

  write(proc / "10" / "stat", stat_line(10, "vfake_node", 'S', 300, 100, 1010, 20));
  write(proc / "10" / "fd" / "1", "");

  const auto r = scanner.scan();
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].rss_bytes, 20u * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(r.matches[0].open_fds, 2u);
  EXPECT_NEAR(r.matches[0].cpu_seconds, 400.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)), 1e-9);
}

TEST_F(process_scanner_fake_proc, a_match_that_renamed_itself_stops_matching_at_once) {
  add_process(10, "vfake_node", 'S', 10, 0, "node");
  auto scanner = make("vfake_node");
  ASSERT_EQ(scanner.scan().matches.size(), 1u);

  write(proc / "10" / "stat", stat_line(10, "vfake_other", 'S', 100, 100, 1010, 10));

  EXPECT_EQ(scanner.scan().matches.size(), 0u);
}

TEST_F(process_scanner_fake_proc, a_pid_under_a_new_proc_entry_is_read_again) {
  add_process(10, "vfake_other", 'S', 10, 0, "other");
  auto scanner = make("vfake_node");
  ASSERT_EQ(scanner.scan().matches.size(), 0u);

  replace_process(10, "vfake_node");

  const auto r = scanner.scan();
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].key.pid, 10);
}

TEST_F(process_scanner_fake_proc, a_settled_non_match_is_read_again_once_due) {
  add_process(10, "vfake_other", 'S', 10, 0, "other");
  auto scanner = make("vfake_node", {.settle_time = std::chrono::seconds(10), .recheck_after = {}});
  ASSERT_EQ(scanner.scan().matches.size(), 0u);

  // Renamed in place: same entry, same start time. Only the recheck sees it.
  write(proc / "10" / "stat", stat_line(10, "vfake_node", 'S', 100, 100, 1010, 10));

  EXPECT_EQ(scanner.scan().matches.size(), 1u);
}

TEST_F(process_scanner_fake_proc, a_young_non_match_is_read_again_on_every_scan) {
  add_process(10, "vfake_other", 'S', 10, 0, "other");
  const auto now = boot_clock_ticks();
  write(proc / "10" / "stat", stat_line(10, "vfake_other", 'S', 100, 100, now, 10));
  auto scanner = make("vfake_node");
  ASSERT_EQ(scanner.scan().matches.size(), 0u);

  write(proc / "10" / "stat", stat_line(10, "vfake_node", 'S', 100, 100, now, 10));

  EXPECT_EQ(scanner.scan().matches.size(), 1u);
}

TEST_F(process_scanner_fake_proc, a_vanished_pid_is_forgotten) {
  add_process(10, "vfake_node", 'S', 10, 0, "node");
  add_process(11, "vfake_other", 'S', 10, 0, "other");
  auto scanner = make("vfake_node");
  scanner.scan();
  ASSERT_TRUE(scanner.remembers(11));

  fs::remove_all(proc / "11");
  fs::remove_all(proc / "10");
  const auto r = scanner.scan();

  EXPECT_EQ(r.matches.size(), 0u);
  EXPECT_FALSE(scanner.remembers(10));
  EXPECT_FALSE(scanner.remembers(11));
}

TEST_F(process_scanner_fake_proc, an_unreadable_pid_is_counted_on_every_scan) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a file another user may not read";
  add_process(10, "vfake_node", 'S', 10, 0, "node");
  fs::permissions(proc / "10" / "stat", fs::perms::owner_read);
  fs::permissions(root, fs::perms::all);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    auto scanner = make("vfake_node");
    const auto first = scanner.scan();
    const auto second = scanner.scan();
    const char answer = first.unreadable == 1 && second.unreadable == 1 && second.pids_read == 0 ? 'y' : 'n';
    (void)!::write(fds[1], &answer, 1);
    ::_exit(0);
  }
  ::close(fds[1]);
  char answer = 0;
  (void)!::read(fds[0], &answer, 1);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child could not drop to nobody";
  EXPECT_EQ(answer, 'y');
}

// The real /proc seen by an unprivileged user: a root process's fd table is
// not readable. The scan runs in a child that dropped to nobody (this test
// process has no other threads here, so the child may allocate).
TEST_F(process_scan_fake_proc, another_users_fds_are_unreadable_but_the_process_still_counts) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to look at a root process as another user";
  const auto pidfile = root / "self.pid";
  write(pidfile, std::to_string(::getpid()) + "\n");
  fs::permissions(root, fs::perms::all);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    process_matcher m;
    m.pidfile = pidfile.string();
    const auto r = scan_processes(m);
    const bool as_expected = r.matches.size() == 1 && !r.matches[0].open_fds && r.fds_unreadable == 1 &&
                             r.matches[0].rss_bytes > 0 && r.pidfile_problem.empty();
    const char answer = as_expected ? 'y' : 'n';
    (void)!::write(fds[1], &answer, 1);
    ::_exit(0);
  }
  ::close(fds[1]);
  char answer = 0;
  (void)!::read(fds[0], &answer, 1);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child could not drop to nobody";
  EXPECT_EQ(answer, 'y');
}

}  // namespace
}  // namespace vitals
