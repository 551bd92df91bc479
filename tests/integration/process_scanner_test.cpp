// process_scanner's memory of the host's pids against real processes: a
// process started after the first scan, one that exits, a pid reused by
// another process, a young process renaming itself into a match, and a
// remembered match measured afresh. Children are named after this test
// process's pid so nothing else on the host matches; they run only
// async-signal-safe code and die with SIGKILL when the test ends.

#include "probes/process/process_scan.hpp"
#include "support/pid_reuse.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vitals {
namespace {

using std::chrono::steady_clock;

constexpr std::size_t mib = 1024 * 1024;

// "<prefix><pid>": distinct per test process, at most 15 bytes (comm).
std::string unique_name(const std::string& prefix) { return (prefix + std::to_string(::getpid())).substr(0, 15); }

// A child named `name` that obeys one-byte commands: 'p' ping; 'n' rename
// to the `renamed` given at start; 'm' touch 16 MiB more. Each is answered
// '1'. Killed and reaped on destruction. `pid` >= 0 takes that pid for it
// (clone3 set_tid, CAP_SYS_ADMIN).
class named_child {
public:
  explicit named_child(const std::string& name, const std::string& renamed = "", pid_t pid = -1)
      : name_(name), renamed_(renamed) {
    int command[2];
    int answer[2];
    if (::pipe2(command, O_CLOEXEC) != 0 || ::pipe2(answer, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    pid_ = pid < 0 ? ::fork() : test::clone_with_pid(pid);
    if (pid_ < 0) throw std::runtime_error(std::string("cannot start a child: ") + std::strerror(errno));
    if (pid_ == 0) child_main(command[0], answer[1]);
    ::close(command[0]);
    ::close(answer[1]);
    command_ = command[1];
    answer_ = answer[0];
    if (!ask('p')) throw std::runtime_error("child did not start");
  }
  ~named_child() {
    stop();
    ::close(command_);
    ::close(answer_);
  }
  named_child(const named_child&) = delete;
  named_child& operator=(const named_child&) = delete;

  pid_t pid() const { return pid_; }
  bool rename() { return ask('n'); }
  bool grow() { return ask('m'); }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

private:
  bool ask(char c) {
    char reply = 0;
    return ::write(command_, &c, 1) == 1 && ::read(answer_, &reply, 1) == 1 && reply == '1';
  }

  [[noreturn]] void child_main(int command, int answer) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::prctl(PR_SET_NAME, name_.c_str());
    for (char c = 0; ::read(command, &c, 1) == 1;) {
      if (c == 'n') ::prctl(PR_SET_NAME, renamed_.c_str());
      if (c == 'm') {
        void* region = ::mmap(nullptr, 16 * mib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region != MAP_FAILED) std::memset(region, 1, 16 * mib);
      }
      const char reply = '1';
      (void)!::write(answer, &reply, 1);
    }
    ::_exit(0);
  }

  std::string name_;
  std::string renamed_;
  pid_t pid_ = -1;
  int command_ = -1;
  int answer_ = -1;
};

process_scanner scanner_for(const std::string& name, process_scanner::timing t = {}) {
  process_matcher m;
  m.name = name;
  return process_scanner(m, "/proc", "/sys/fs/cgroup", t);
}

// No settling: what the scanner remembers is all that can answer.
constexpr process_scanner::timing trust_memory{.settle_time = {}, .recheck_after = std::chrono::hours(1)};

TEST(process_scanner, a_process_started_after_the_first_scan_is_matched_on_the_next) {
  const auto name = unique_name("vsc-late");
  auto scanner = scanner_for(name, trust_memory);
  ASSERT_EQ(scanner.scan().matches.size(), 0u);

  named_child late(name);
  const auto r = scanner.scan();

  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].key.pid, late.pid());
}

TEST(process_scanner, a_process_that_exits_is_dropped_and_forgotten) {
  const auto name = unique_name("vsc-exit");
  auto scanner = scanner_for(name, trust_memory);
  named_child leaving(name);
  const pid_t pid = leaving.pid();
  ASSERT_EQ(scanner.scan().matches.size(), 1u);

  leaving.stop();
  const auto r = scanner.scan();

  EXPECT_EQ(r.matches.size(), 0u);
  EXPECT_FALSE(scanner.remembers(pid));
}

TEST(process_scanner, a_reused_pid_is_read_as_the_new_process) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to choose a child's pid (clone3 set_tid)";
  const auto name = unique_name("vsc-reuse");
  auto scanner = scanner_for(name, trust_memory);
  auto other = std::make_unique<named_child>(unique_name("vsc-other"));
  const pid_t pid = other->pid();
  ASSERT_EQ(scanner.scan().matches.size(), 0u);
  ASSERT_TRUE(scanner.remembers(pid));

  other.reset();  // killed and reaped: the pid is free
  named_child reused(name, "", pid);
  const auto r = scanner.scan();

  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].key.pid, pid);
}

TEST(process_scanner, a_young_process_that_renames_itself_into_a_match_is_found_on_the_next_scan) {
  const auto name = unique_name("vsc-young");
  auto scanner = scanner_for(name);  // default settling time: the child is seconds old at most
  named_child renaming(unique_name("vsc-before"), name);
  ASSERT_EQ(scanner.scan().matches.size(), 0u);

  ASSERT_TRUE(renaming.rename());
  const auto r = scanner.scan();

  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].key.pid, renaming.pid());
}

TEST(process_scanner, a_remembered_match_is_measured_afresh_on_every_scan) {
  const auto name = unique_name("vsc-grow");
  auto scanner = scanner_for(name, trust_memory);
  named_child growing(name);
  const auto before = scanner.scan();
  ASSERT_EQ(before.matches.size(), 1u);

  ASSERT_TRUE(growing.grow());
  const auto after = scanner.scan();

  ASSERT_EQ(after.matches.size(), 1u);
  EXPECT_GE(after.matches[0].rss_bytes, before.matches[0].rss_bytes + 16 * mib);
  EXPECT_EQ(after.matches[0].cmdline, before.matches[0].cmdline);
  EXPECT_EQ(after.matches[0].user, before.matches[0].user);
}

}  // namespace
}  // namespace vitals
