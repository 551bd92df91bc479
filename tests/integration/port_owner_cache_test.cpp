// The port probe's remembered socket owners against real processes: a
// listener replaced on the same port, a socket shared by two processes
// whose lower pid is reused, an owner that drops privileges after binding.
// Each run refreshes the owner index (max_age 0), as probes spread over a
// second do; whether it walked /proc is counted by owner_walks().

#include "probes/port/port_probe.hpp"
#include "probes/port/socket_owner_index.hpp"
#include "support/pid_reuse.hpp"
#include "support/run_probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

namespace vitals {
namespace {

using test::clone_with_pid;
using test::run_once;
using std::chrono::steady_clock;

// A listening TCP socket on 127.0.0.1:`port` (0: any), owned by this test
// until handed to holders; close_socket() closes our copy.
int listening_socket(std::uint16_t port, std::uint16_t& bound) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t len = sizeof addr;
  if (s < 0 || ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 16) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error(std::string("cannot listen: ") + std::strerror(errno));
  bound = ntohs(addr.sin_port);
  return s;
}

// A forked child that keeps one listening socket of ours as fd 3, renames
// itself and obeys one-byte commands: 'p' ping; 'u' drop to uid/gid 65534;
// 'r' and a pid: start a child under that pid, named `reused_name`, holding
// the same socket and running as 65534. Each is answered '1' or '0'. The
// child runs only async-signal-safe code (the test process has threads).
class socket_holder {
public:
  socket_holder(const char* name, int socket_fd, const char* reused_name = "") {
    int command[2];
    int answer[2];
    if (::pipe2(command, O_CLOEXEC) != 0 || ::pipe2(answer, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) child_main(name, reused_name, socket_fd, command[0], answer[1]);
    ::close(command[0]);
    ::close(answer[1]);
    command_ = command[1];
    answer_ = answer[0];
    if (!ask("p")) throw std::runtime_error("socket holder did not start");
  }
  ~socket_holder() {
    stop();
    ::close(command_);
    ::close(answer_);
  }
  socket_holder(const socket_holder&) = delete;
  socket_holder& operator=(const socket_holder&) = delete;

  pid_t pid() const { return pid_; }

  bool drop_privileges() { return ask("u"); }
  bool start_child_with_pid(pid_t pid) {
    char message[1 + sizeof pid] = {'r'};
    std::memcpy(message + 1, &pid, sizeof pid);
    return ask(std::string(message, sizeof message));
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

private:
  bool ask(const std::string& message) {
    char reply = 0;
    return ::write(command_, message.data(), message.size()) == static_cast<ssize_t>(message.size()) &&
           ::read(answer_, &reply, 1) == 1 && reply == '1';
  }

  [[noreturn]] static void child_main(const char* name, const char* reused_name, int socket_fd, int command,
                                      int answer) {
    // Fixed numbers 3, 4, 5 for the socket and the pipes; nothing else of ours stays open.
    const int moved[3] = {::fcntl(socket_fd, F_DUPFD, 100), ::fcntl(command, F_DUPFD, 100),
                          ::fcntl(answer, F_DUPFD, 100)};
    for (int i = 0; i < 3; ++i) ::dup2(moved[i], 3 + i);
    ::close_range(6, ~0U, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::prctl(PR_SET_NAME, name);
    for (char c = 0; ::read(4, &c, 1) == 1;) {
      bool ok = true;
      if (c == 'u') ok = drop_to_nobody();
      if (c == 'r') {
        pid_t pid = 0;
        ok = ::read(4, &pid, sizeof pid) == sizeof pid;
        const pid_t got = ok ? clone_with_pid(pid) : -1;
        if (got == 0) {
          ::close(4);  // commands are for the holder
          ::prctl(PR_SET_PDEATHSIG, SIGKILL);
          ::prctl(PR_SET_NAME, reused_name);
          const char reply = drop_to_nobody() ? '1' : '0';
          (void)!::write(5, &reply, 1);
          for (;;) ::pause();
        }
        if (got == pid) continue;  // the new child answers once it is what it should be
        ok = false;
      }
      const char reply = ok ? '1' : '0';
      (void)!::write(5, &reply, 1);
    }
    ::_exit(0);
  }

  // Changing credentials clears the parent-death signal: set again, so the
  // child still dies with its parent.
  static bool drop_to_nobody() {
    const pid_t parent = ::getppid();
    const bool dropped = ::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);  // the parent died before the signal was set again
    return dropped;
  }

  pid_t pid_ = -1;
  int command_ = -1;
  int answer_ = -1;
};

std::string user_name(uid_t uid) {
  const passwd* pw = ::getpwuid(uid);
  return pw ? pw->pw_name : std::to_string(uid);
}

std::optional<std::string> evidence(const probe_result& r, const std::string& key) {
  for (const auto& [k, v] : r.evidence)
    if (k == key) return v;
  return std::nullopt;
}

std::string owner_pid(const probe_result& r) {
  for (const auto& s : r.samples)
    if (s.name == "vitals_port_owner_info") return s.labels.at("pid");
  return "(none)";
}

class port_owner_cache_test : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};  // declared after io: joined before io is destroyed
  probe_context ctx{io, pool};
  socket_owner_index& index = asio::use_service<socket_owner_index>(io);

  void SetUp() override { index.set_max_age(steady_clock::duration::zero()); }

  port_probe make(std::uint16_t port, std::string expect_process = "") {
    port_probe::settings s;
    s.ports = {port};
    s.expect_process = std::move(expect_process);
    return port_probe(std::move(s), ctx);
  }
};

TEST_F(port_owner_cache_test, an_owner_that_still_holds_its_listener_is_named_without_walking_proc_again) {
  std::uint16_t port = 0;
  const int s = listening_socket(0, port);
  socket_holder holder("cache-keeper", s);
  ::close(s);
  auto p = make(port, "cache-keeper");

  const auto first = run_once(io, p);
  const auto second = run_once(io, p);

  EXPECT_TRUE(first.ok) << first.error;
  EXPECT_TRUE(second.ok) << second.error;
  EXPECT_EQ(owner_pid(second), std::to_string(holder.pid()));
  EXPECT_EQ(evidence(second, "owner"), evidence(first, "owner"));
  EXPECT_EQ(evidence(second, "cmdline"), evidence(first, "cmdline"));
  EXPECT_EQ(index.scans(), 2u);
  EXPECT_EQ(index.owner_walks(), 1u);
}

TEST_F(port_owner_cache_test, a_listener_replaced_by_another_process_names_the_new_owner_on_the_next_run) {
  std::uint16_t port = 0;
  int s = listening_socket(0, port);
  socket_holder first_holder("cache-first", s);
  ::close(s);
  auto p = make(port, "cache-first");
  const auto before = run_once(io, p);
  ASSERT_TRUE(before.ok) << before.error;

  first_holder.stop();
  std::uint16_t same_port = 0;
  s = listening_socket(port, same_port);
  socket_holder second_holder("cache-second", s);
  ::close(s);
  const auto after = run_once(io, p);

  EXPECT_FALSE(after.ok);
  EXPECT_EQ(after.reason, "conflict");
  EXPECT_EQ(after.error, "port " + std::to_string(port) + " owned by cache-second (pid " +
                             std::to_string(second_holder.pid()) + "), expected cache-first");
  EXPECT_EQ(owner_pid(after), std::to_string(second_holder.pid()));
  EXPECT_EQ(index.owner_walks(), 2u);
}

TEST_F(port_owner_cache_test, a_reused_pid_holding_the_same_socket_is_named_as_the_new_process) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to choose a child's pid (clone3 set_tid) and to drop to 65534";
  // Only the start time can tell the processes apart: the same name, pid,
  // fd and socket, and no settling time to re-read identities anyway.
  index.set_owner_settle_time(steady_clock::duration::zero());
  std::uint16_t port = 0;
  const int s = listening_socket(0, port);
  socket_holder owner("cache-owner", s);
  socket_holder sharer("cache-sharer", s, "cache-owner");
  ::close(s);
  if (owner.pid() > sharer.pid()) GTEST_SKIP() << "pids wrapped between two forks; the lower pid must be the owner";
  auto p = make(port);
  const auto before = run_once(io, p);
  ASSERT_EQ(owner_pid(before), std::to_string(owner.pid()));
  ASSERT_EQ(evidence(before, "owner"), "cache-owner (pid " + std::to_string(owner.pid()) + ", user root)");

  const pid_t reused = owner.pid();
  owner.stop();
  ASSERT_TRUE(sharer.start_child_with_pid(reused)) << "clone3 could not take pid " << reused;
  const auto after = run_once(io, p);

  EXPECT_TRUE(after.ok) << after.error;
  EXPECT_EQ(evidence(after, "owner"),
            "cache-owner (pid " + std::to_string(reused) + ", user " + user_name(65534) + ")");
}

TEST_F(port_owner_cache_test, an_owner_that_drops_privileges_while_settling_is_shown_with_its_new_user) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to 65534";
  std::uint16_t port = 0;
  const int s = listening_socket(0, port);
  socket_holder holder("cache-dropper", s);
  ::close(s);
  auto p = make(port);
  const auto before = run_once(io, p);
  ASSERT_EQ(evidence(before, "owner"), "cache-dropper (pid " + std::to_string(holder.pid()) + ", user root)");

  ASSERT_TRUE(holder.drop_privileges());
  const auto after = run_once(io, p);

  EXPECT_EQ(evidence(after, "owner"),
            "cache-dropper (pid " + std::to_string(holder.pid()) + ", user " + user_name(65534) + ")");
  EXPECT_EQ(index.owner_walks(), 1u);
}

}  // namespace
}  // namespace vitals
