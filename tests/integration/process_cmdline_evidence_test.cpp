// The process probe against a real process whose command line carries
// secrets: it still matches on the whole command line, and its evidence
// shows the secrets redacted, or no command line at all when told so.

#include "probes/process/process_probe.hpp"
#include "support/run_probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace vitals {
namespace {

using test::run_once;

// /bin/sh waiting on a pipe, with secret-looking arguments after its
// script: they stay in its /proc/PID/cmdline. Killed and reaped on
// destruction.
class secret_holder {
public:
  explicit secret_holder(const std::string& tag) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(fds[0], 0);
      ::close(fds[1]);
      const std::string password = "--db-password=hunter2-" + tag;
      const std::string env_style = "PGPASSWORD=pg-" + tag;
      const std::string url = "postgres://app:url-" + tag + "@db/app";
      ::execl("/bin/sh", "sh", "-c", "read line", ("holder-" + tag).c_str(), password.c_str(), env_style.c_str(),
              url.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[0]);
    write_end_ = fds[1];
  }
  ~secret_holder() {
    ::close(write_end_);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  secret_holder(const secret_holder&) = delete;
  secret_holder& operator=(const secret_holder&) = delete;

private:
  pid_t pid_ = -1;
  int write_end_ = -1;
};

class process_cmdline_evidence : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  const std::string tag = std::to_string(::getpid());

  ~process_cmdline_evidence() override { pool.join(); }

  // Matches the holder by the secret itself: matching sees the real text.
  probe_result run(bool show_cmdline) {
    process_probe::settings s;
    std::string why;
    s.match.cmdline = "--db-password=hunter2-" + tag;
    s.match.cmdline_regex = user_regex::compile(*s.match.cmdline, user_regex::anchoring::search, why);
    s.show_cmdline = show_cmdline;
    process_probe probe(std::move(s), ctx);
    // exec runs after fork returns: the first scans may still see the fork.
    probe_result r;
    for (int i = 0; i < 500 && !r.ok; ++i) r = run_once(io, probe);
    return r;
  }

  static std::string all_evidence(const probe_result& r) {
    std::string text;
    for (const auto& [k, v] : r.evidence) text += k + ": " + v + "\n";
    return text;
  }
};

TEST_F(process_cmdline_evidence, secrets_in_a_real_command_line_are_redacted_in_evidence) {
  secret_holder holder(tag);
  const auto r = run(true);
  ASSERT_TRUE(r.ok) << r.error;
  const auto text = all_evidence(r);
  EXPECT_NE(text.find("sh -c read line holder-" + tag + " --db-password=<redacted> PGPASSWORD=<redacted> "
                      "postgres://app:<redacted>@db/app"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_EQ(text.find("pg-" + tag), std::string::npos) << text;
  EXPECT_EQ(text.find("url-" + tag), std::string::npos) << text;
}

TEST_F(process_cmdline_evidence, show_cmdline_false_leaves_the_command_line_out) {
  secret_holder holder(tag);
  const auto r = run(false);
  ASSERT_TRUE(r.ok) << r.error;
  const auto text = all_evidence(r);
  EXPECT_NE(text.find("top 1: pid "), std::string::npos) << text;
  EXPECT_EQ(text.find("holder-" + tag), std::string::npos) << text;
  EXPECT_EQ(text.find("<redacted>"), std::string::npos) << text;
}

}  // namespace
}  // namespace vitals
