#pragma once

// A real `sqlite3` command-line shell in a second process, fed SQL through a
// pipe: the lock holder the SQLite probe must find and name.

#include "support/as_nobody.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>

namespace vitals::test {

class sqlite_shell {
public:
  explicit sqlite_shell(const std::string& db_path) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      close_fds_except(2);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::execlp("sqlite3", "sqlite3", "-batch", db_path.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
  }
  ~sqlite_shell() {
    if (in_ >= 0) ::close(in_);  // EOF: the shell ends its session and exits
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    ::close(out_);
  }
  sqlite_shell(const sqlite_shell&) = delete;
  sqlite_shell& operator=(const sqlite_shell&) = delete;

  pid_t pid() const { return pid_; }

  // Sends `sql`, then waits until the shell printed `marker` (a SELECT of
  // it placed last): everything before it has run. Returns the output.
  std::string run(const std::string& sql, const std::string& marker = "vitals-test-done") {
    const std::string text = sql + "\nSELECT '" + marker + "';\n";
    write_all(in_, text);
    std::string seen;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (seen.find(marker) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
      pollfd p{out_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        ADD_FAILURE() << "sqlite3 did not answer; output so far:\n" << seen;
        break;
      }
      char buf[4096];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) {
        ADD_FAILURE() << "sqlite3 exited; output:\n" << seen;
        break;
      }
      seen.append(buf, static_cast<std::size_t>(n));
    }
    return seen;
  }

  // SIGKILL, as a crash mid-transaction: no rollback, no unlock but the kernel's.
  void kill_hard() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    ::close(in_);
    in_ = -1;
  }

private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
};

// Runs `sql` on `path` through a connection of this process that is closed
// again before returning — so it holds no lock once the probe looks.
inline void run_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

}  // namespace vitals::test
