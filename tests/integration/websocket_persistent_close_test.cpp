// A persistent WebSocket probe under the real scheduler, against a server
// that ends every connection shortly after opening it (ws_close_after.py,
// Debian's python3-websockets): the loss shows in the probe's series within
// a second, not at the next run; it is counted once; and the next scheduled
// run connects again.

#include "daemon/sched/scheduler.hpp"
#include "probes/websocket/websocket_probe.hpp"

#include "support/run_probe.hpp"
#include "support/run_until.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using test::describe;
using test::evidence_value;
using test::sample_value;

// ws_close_after.py as a child process. It prints "PORT n" once, then
// "CLOSED" each time it ends a connection; closed_at() notes when this
// process first read that, without blocking the loop.
class close_after_server {
public:
  close_after_server(std::chrono::milliseconds after, const char* how) {
    const auto script = (std::filesystem::path(VITALS_TEST_FIXTURES_DIR) / "ws_close_after.py").string();
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const auto ms = std::to_string(after.count());
      ::execl("/usr/bin/python3", "python3", script.c_str(), "0", ms.c_str(), how, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    fd_ = out[0];
    // The first line, blocking: nothing can connect before it.
    std::string line;
    char c = 0;
    while (::read(fd_, &c, 1) == 1 && c != '\n') line += c;
    if (line.rfind("PORT ", 0) == 0) port = std::stoi(line.substr(5));
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~close_after_server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }

  std::optional<std::chrono::steady_clock::time_point> closed_at() {
    char buf[256];
    ssize_t n = 0;
    while ((n = ::read(fd_, buf, sizeof buf)) > 0) {
      pending_.append(buf, static_cast<std::size_t>(n));
      if (!closed_at_ && pending_.find("CLOSED") != std::string::npos) closed_at_ = std::chrono::steady_clock::now();
    }
    return closed_at_;
  }

  int port = 0;

private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string pending_;
  std::optional<std::chrono::steady_clock::time_point> closed_at_;
};

struct timed_run {
  std::chrono::steady_clock::time_point at;
  probe_result result;
};

struct recording_sink final : run_sink {
  std::vector<timed_run> runs;
  void run_finished(const probe_settings&, const run_outcome& o, std::optional<bool>) override {
    runs.push_back({std::chrono::steady_clock::now(), o.result});
  }
};

class persistent_websocket : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  recording_sink sink;

  ~persistent_websocket() override { pool.join(); }

  // One run at once, then every `interval`; the probe keeps its connection.
  std::unique_ptr<scheduler> schedule(int port, std::chrono::milliseconds interval) {
    websocket_probe::settings s;
    std::string error;
    s.url = *parse_web_url("ws://127.0.0.1:" + std::to_string(port) + "/", true, error);
    s.mode = websocket_probe::ping_mode::message;
    s.send = R"({"type":"ping"})";
    s.expect_json = boost::json::parse(R"({"type":"pong"})");
    s.persistent = true;
    s.timeout = 1s;
    probe_spec spec;
    spec.settings.name = "ws";
    spec.settings.type = "websocket";
    spec.settings.interval = interval;
    spec.settings.timeout = 1s;
    spec.fingerprint = "ws";
    spec.instance = std::make_shared<websocket_probe>(s, ctx);
    auto sched = std::make_unique<scheduler>(io, sink, [](steady_clock::duration) { return steady_clock::duration{}; });
    sched->apply({spec});
    return sched;
  }

  std::optional<double> connected(std::size_t run) const {
    return sample_value(sink.runs[run].result, "vitals_websocket_connected");
  }

  // The server ends the connection 300 ms after it opened; runs are 2 s apart.
  void the_loss_shows_at_once_and_the_next_run_reconnects(const char* how, const std::string& reason) {
    close_after_server server(300ms, how);
    ASSERT_NE(server.port, 0) << "ws_close_after.py did not start (is python3-websockets installed?)";
    const auto started = std::chrono::steady_clock::now();
    auto sched = schedule(server.port, 2s);

    ASSERT_TRUE(test::run_until(io, [&] { return sink.runs.size() == 1; }));
    ASSERT_TRUE(sink.runs[0].result.ok) << describe(sink.runs[0].result);
    EXPECT_EQ(connected(0), 1);

    // Without a run of its own the loss would show only at the run due at 2 s.
    ASSERT_TRUE(test::run_until(io, [&] { return server.closed_at() && sink.runs.size() == 2; }, 5s));
    const auto& lost = sink.runs[1];
    EXPECT_LT(lost.at - *server.closed_at(), 1s) << describe(lost.result);
    EXPECT_EQ(connected(1), 0) << describe(lost.result);
    EXPECT_EQ(sample_value(lost.result, "vitals_websocket_disconnects_total"), 1) << describe(lost.result);
    EXPECT_EQ(lost.result.reason, reason) << describe(lost.result);

    // The next scheduled run connects again and does not count the loss again.
    ASSERT_TRUE(test::run_until(io, [&] { return sink.runs.size() == 3; }, 5s));
    const auto& back = sink.runs[2];
    EXPECT_TRUE(back.result.ok) << describe(back.result);
    EXPECT_GE(back.at - started, 2s) << "reconnected before its scheduled run";
    EXPECT_EQ(connected(2), 1) << describe(back.result);
    EXPECT_EQ(sample_value(back.result, "vitals_websocket_disconnects_total"), 1) << describe(back.result);
    EXPECT_NE(evidence_value(back.result, "reconnected"), "<absent>") << describe(back.result);
    sched->stop();
  }
};

TEST_F(persistent_websocket, a_close_frame_shows_disconnected_within_a_second_and_the_next_run_reconnects) {
  the_loss_shows_at_once_and_the_next_run_reconnects("close", "closed");
}

TEST_F(persistent_websocket, a_reset_shows_disconnected_within_a_second_and_the_next_run_reconnects) {
  the_loss_shows_at_once_and_the_next_run_reconnects("reset", "protocol");
}

}  // namespace
}  // namespace vitals
