// The process probe against real processes: children forked by the test,
// each named with prctl(PR_SET_NAME) after this test process's pid so no
// other process on the host can match. Children run only async-signal-safe
// code (the test process has threads), allocate with mmap, and die with
// SIGKILL when their test ends or the test process dies.

#include "probes/process/process_probe.hpp"
#include "support/pool_gate.hpp"
#include "support/run_probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using test::run_once;
using test::run_with_deadline;

constexpr std::size_t mib = 1024 * 1024;

// A forked child, killed and reaped on destruction.
class child {
public:
  child() = default;
  explicit child(pid_t pid) : pid_(pid) {}
  child(child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
  child& operator=(child&& other) noexcept {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    return *this;
  }
  ~child() { stop(); }

  pid_t pid() const { return pid_; }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

private:
  pid_t pid_ = -1;
};

void signal_ready(int fd) {
  const char c = 'r';
  (void)!::write(fd, &c, 1);
  ::close(fd);
}

void sleep_ms(long ms) {
  timespec t{ms / 1000, (ms % 1000) * 1'000'000};
  while (::nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

// Forks a child named `name` that runs `body(ready_fd)`; returns once the
// child wrote to ready_fd (or died). `body` must be async-signal-safe.
child spawn(const std::string& name, const std::function<void(int)>& body) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::prctl(PR_SET_NAME, name.c_str());
    body(fds[1]);
    for (;;) ::pause();
  }
  ::close(fds[1]);
  char c = 0;
  (void)!::read(fds[0], &c, 1);
  ::close(fds[0]);
  return child(pid);
}

// Touches `size` bytes at once, then holds them.
child spawn_flat(const std::string& name, std::size_t size) {
  return spawn(name, [size](int ready) {
    void* region = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region != MAP_FAILED) std::memset(region, 1, size);
    signal_ready(ready);
  });
}

// Touches one more MiB every 50 ms (20 MiB/s), up to 256 MiB.
child spawn_leaking(const std::string& name) {
  return spawn(name, [](int ready) {
    constexpr std::size_t cap = 256 * mib;
    auto* region = static_cast<char*>(
        ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    signal_ready(ready);
    if (region == MAP_FAILED) return;
    for (std::size_t at = 0; at < cap; at += mib) {
      std::memset(region + at, 1, mib);
      sleep_ms(50);
    }
  });
}

// "<prefix><pid>": distinct per test process, at most 15 bytes (comm).
std::string unique_name(const std::string& prefix) {
  auto name = prefix + std::to_string(::getpid());
  return name.substr(0, 15);
}

std::optional<double> sample_value(const probe_result& r, const std::string& name) {
  for (const auto& s : r.samples)
    if (s.name == name) return s.value;
  return std::nullopt;
}

std::string evidence(const probe_result& r, const std::string& key) {
  for (const auto& [k, v] : r.evidence)
    if (k == key) return v;
  return {};
}

std::string all_evidence(const probe_result& r) {
  std::string text;
  for (const auto& [k, v] : r.evidence) text += k + ": " + v + "\n";
  return text;
}

class process_probe_test : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{2};
  probe_context ctx{io, pool};

  ~process_probe_test() override { pool.join(); }

  process_probe make(process_matcher match, std::chrono::steady_clock::duration window = 10min,
                     std::int64_t min_count = 1) {
    process_probe::settings s;
    s.match = std::move(match);
    s.growth_window = window;
    s.growth_min_age = std::chrono::seconds(0);  // growth tests here fork their processes just before
    s.min_count = min_count;
    return process_probe(std::move(s), ctx);
  }
  static process_matcher named(const std::string& name) {
    process_matcher m;
    m.name = name;
    return m;
  }
};

TEST_F(process_probe_test, a_steadily_growing_process_shows_positive_growth_and_is_top_evidence) {
  const auto name = unique_name("vtleak");
  child leaker = spawn_leaking(name);
  process_probe::settings s;
  s.match = named(name);
  s.growth_window = 2s;  // min_span 200 ms
  s.growth_min_age = 0s;  // it leaks from its first moment
  s.rss_limit = 4ull << 30;
  process_probe probe(std::move(s), ctx);

  probe_result r;
  for (int i = 0; i < 12; ++i) {
    r = run_once(io, probe);
    std::this_thread::sleep_for(100ms);
  }
  r = run_once(io, probe);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(sample_value(r, "vitals_process_matches"), 1.0);
  const auto growth = sample_value(r, "vitals_process_rss_growth_bytes_per_second");
  ASSERT_TRUE(growth.has_value()) << all_evidence(r);
  // It touches 20 MiB/s; a loaded machine only slows it down. Bounds that
  // hold either way and are far from what a flat process gives (~0).
  EXPECT_GT(*growth, 2.0 * mib) << all_evidence(r);
  EXPECT_LT(*growth, 60.0 * mib) << all_evidence(r);
  const auto eta = sample_value(r, "vitals_process_rss_limit_eta_seconds");
  ASSERT_TRUE(eta.has_value());
  EXPECT_GT(*eta, 0.0);
  const auto top = evidence(r, "top 1");
  EXPECT_NE(top.find("pid " + std::to_string(leaker.pid()) + " " + name), std::string::npos) << top;
  EXPECT_NE(top.find("growth +"), std::string::npos) << top;
  EXPECT_NE(evidence(r, "memory_limit").find("rss_limit 4.0 GiB"), std::string::npos) << all_evidence(r);
}

// Signals ready, then touches 30 MiB within its first ~300 ms, then holds
// them: a service warming up its caches after a restart.
child spawn_warming_up(const std::string& name) {
  return spawn(name, [](int ready) {
    constexpr std::size_t size = 30 * mib;
    auto* region = static_cast<char*>(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    signal_ready(ready);
    if (region == MAP_FAILED) return;
    for (std::size_t at = 0; at < size; at += mib) {
      std::memset(region + at, 1, mib);
      sleep_ms(10);
    }
  });
}

TEST_F(process_probe_test, a_start_up_ramp_is_not_growth_once_the_process_has_settled) {
  const auto name = unique_name("vtwarm");
  auto settings_with_min_age = [&](std::chrono::milliseconds min_age) {
    process_probe::settings s;
    s.match = named(name);
    s.growth_window = 1s;  // min_span 100 ms
    s.growth_min_age = min_age;
    return s;
  };
  // Both watch the same process; the second counts it from its first run,
  // as the probe did before a minimum age existed.
  process_probe settled(settings_with_min_age(1500ms), ctx);
  process_probe from_start(settings_with_min_age(0ms), ctx);
  constexpr double leak_threshold = 102400;  // ProcessMemoryLeak's default
  child app = spawn_warming_up(name);
  const auto started = std::chrono::steady_clock::now();

  double worst_from_start = 0;
  double worst_settled = 0;
  std::optional<double> last_settled;
  std::string young_top;
  while (std::chrono::steady_clock::now() - started < 3500ms) {
    const auto a = run_once(io, settled);
    const auto b = run_once(io, from_start);
    ASSERT_TRUE(a.ok && b.ok) << a.error << b.error;
    last_settled = sample_value(a, "vitals_process_rss_growth_bytes_per_second");
    worst_settled = std::max(worst_settled, last_settled.value_or(0));
    worst_from_start = std::max(worst_from_start, sample_value(b, "vitals_process_rss_growth_bytes_per_second").value_or(0));
    if (young_top.empty() && std::chrono::steady_clock::now() - started < 1s) young_top = evidence(a, "top 1");
    std::this_thread::sleep_for(50ms);
  }
  // The ramp is real (counted from the start it reads as a leak) ...
  EXPECT_GT(worst_from_start, leak_threshold);
  // ... but from 1.5 s of age on the process is flat: never above the
  // leak threshold, and growth is known again by the end.
  EXPECT_LT(worst_settled, leak_threshold);
  ASSERT_TRUE(last_settled.has_value());
  EXPECT_LT(std::fabs(*last_settled), leak_threshold);
  EXPECT_NE(young_top.find("growth n/a (starting up)"), std::string::npos) << young_top;
}

TEST_F(process_probe_test, a_restart_is_not_growth) {
  const auto name = unique_name("vtrestart");
  auto probe = make(named(name), 10s);  // min_span 1 s
  // The old process holds 16 MiB; its replacement 64 MiB from the start.
  // A slope through the *summed* RSS would read the 48 MiB step as tens of
  // MiB/s; per-process slopes see two flat lines.
  child app = spawn_flat(name, 16 * mib);
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(run_once(io, probe).ok);
    std::this_thread::sleep_for(100ms);
  }
  app.stop();
  app = spawn_flat(name, 64 * mib);
  probe_result r;
  for (int i = 0; i < 10; ++i) {
    r = run_once(io, probe);
    std::this_thread::sleep_for(100ms);
  }
  r = run_once(io, probe);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(sample_value(r, "vitals_process_matches"), 1.0);
  const auto growth = sample_value(r, "vitals_process_rss_growth_bytes_per_second");
  ASSERT_TRUE(growth.has_value()) << all_evidence(r);
  EXPECT_LT(std::fabs(*growth), 1.0 * mib) << all_evidence(r);  // the leak test's child grows 20 MiB/s
  EXPECT_FALSE(sample_value(r, "vitals_process_rss_limit_eta_seconds").has_value());  // no limit set
  EXPECT_NE(evidence(r, "top 1").find("pid " + std::to_string(app.pid())), std::string::npos) << all_evidence(r);
}

TEST_F(process_probe_test, open_fds_are_counted_against_the_soft_limit) {
  const auto name = unique_name("vtfds");
  constexpr rlim_t soft_limit = 777;  // distinct from any default
  child holder = spawn(name, [](int ready) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = soft_limit;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    for (int i = 0; i < 200; ++i) ::open("/dev/null", O_RDONLY);
    signal_ready(ready);
  });
  auto probe = make(named(name));
  const auto r = run_once(io, probe);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GE(sample_value(r, "vitals_process_open_fds").value_or(0), 200.0);
  EXPECT_LT(sample_value(r, "vitals_process_open_fds").value_or(0), static_cast<double>(soft_limit));
  EXPECT_EQ(sample_value(r, "vitals_process_max_fds"), static_cast<double>(soft_limit));
  EXPECT_NE(evidence(r, "top 1").find("/777:"), std::string::npos) << all_evidence(r);
}

TEST_F(process_probe_test, sums_count_rss_and_cpu_over_every_match) {
  const auto name = unique_name("vtsum");
  std::vector<child> children;
  for (int i = 0; i < 3; ++i) children.push_back(spawn_flat(name, 8 * mib));
  auto probe = make(named(name));
  const auto r = run_once(io, probe);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(sample_value(r, "vitals_process_matches"), 3.0);
  EXPECT_GE(sample_value(r, "vitals_process_rss_bytes").value_or(0), 3.0 * 8 * mib);
  EXPECT_GE(sample_value(r, "vitals_process_cpu_seconds_total").value_or(-1), 0.0);
  // Growth needs history: not exported after one run.
  EXPECT_FALSE(sample_value(r, "vitals_process_rss_growth_bytes_per_second").has_value());
  EXPECT_NE(evidence(r, "growth").find("not known yet"), std::string::npos) << all_evidence(r);
}

TEST_F(process_probe_test, evidence_lists_the_top_five_by_rss) {
  const auto name = unique_name("vttop");
  std::vector<child> children;
  for (std::size_t i = 1; i <= 7; ++i) children.push_back(spawn_flat(name, i * 4 * mib));
  auto probe = make(named(name));
  const auto r = run_once(io, probe);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NE(evidence(r, "top 1").find("pid " + std::to_string(children[6].pid()) + " "), std::string::npos)
      << all_evidence(r);
  EXPECT_NE(evidence(r, "top 5").find("pid " + std::to_string(children[2].pid()) + " "), std::string::npos)
      << all_evidence(r);
  EXPECT_EQ(evidence(r, "top 6"), "");
}

TEST_F(process_probe_test, no_match_fails_naming_the_matcher) {
  auto probe = make(named(unique_name("vtnone")));
  const auto r = run_once(io, probe);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "no_match");
  EXPECT_EQ(r.error, "no process matches name=" + unique_name("vtnone") + " (min_count 1)");
  EXPECT_EQ(sample_value(r, "vitals_process_matches"), 0.0);
}

TEST_F(process_probe_test, fewer_than_min_count_fails) {
  const auto name = unique_name("vtmin");
  child one = spawn_flat(name, mib);
  auto probe = make(named(name), 10min, 2);
  const auto r = run_once(io, probe);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "no_match");
  EXPECT_EQ(r.error, "only 1 process matches name=" + name + " (min_count 2)");
}

TEST_F(process_probe_test, min_count_zero_accepts_no_match) {
  auto probe = make(named(unique_name("vtzero")), 10min, 0);
  const auto r = run_once(io, probe);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(sample_value(r, "vitals_process_matches"), 0.0);
}

class temp_dir {
public:
  temp_dir() {
    path_ = std::filesystem::temp_directory_path() / ("vitals_process_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

TEST_F(process_probe_test, a_stale_pidfile_is_no_match_with_a_clear_error) {
  temp_dir dir;
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);  // reaped: the pid names nothing now
  const auto pidfile = (dir.path() / "app.pid").string();
  std::ofstream(pidfile) << gone << "\n";

  process_matcher m;
  m.pidfile = pidfile;
  auto probe = make(m);
  const auto r = run_once(io, probe);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "no_match");
  EXPECT_EQ(r.error, "no process matches pidfile=" + pidfile + " (min_count 1): pidfile " + pidfile + " names pid " +
                         std::to_string(gone) + ", which is not running");
}

TEST_F(process_probe_test, a_live_pidfile_matches_its_process) {
  temp_dir dir;
  const auto name = unique_name("vtpid");
  child a = spawn_flat(name, mib);
  child b = spawn_flat(name, mib);
  const auto pidfile = (dir.path() / "app.pid").string();
  std::ofstream(pidfile) << b.pid() << "\n";
  process_matcher m = named(name);
  m.pidfile = pidfile;
  auto probe = make(m);
  const auto r = run_once(io, probe);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(sample_value(r, "vitals_process_matches"), 1.0);
  EXPECT_NE(evidence(r, "top 1").find("pid " + std::to_string(b.pid()) + " "), std::string::npos);
}

TEST_F(process_probe_test, a_missing_pidfile_is_no_match_with_a_clear_error) {
  process_matcher m;
  m.pidfile = "/nonexistent/vitals/app.pid";
  auto probe = make(m);
  const auto r = run_once(io, probe);
  EXPECT_EQ(r.reason, "no_match");
  EXPECT_EQ(r.error,
            "no process matches pidfile=/nonexistent/vitals/app.pid (min_count 1): pidfile "
            "/nonexistent/vitals/app.pid: No such file or directory");
}

TEST_F(process_probe_test, zombies_are_skipped_and_counted) {
  const auto name = unique_name("vtzomb");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_NAME, name.c_str());
    ::_exit(0);  // not reaped until the end of the test: a zombie
  }
  // Wait until the kernel shows it as a zombie.
  const auto stat_path = "/proc/" + std::to_string(pid) + "/stat";
  bool zombie = false;
  for (int i = 0; i < 500 && !zombie; ++i) {
    std::ifstream in(stat_path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const auto close = text.rfind(')');
    zombie = close != std::string::npos && text.size() > close + 2 && text[close + 2] == 'Z';
    if (!zombie) std::this_thread::sleep_for(10ms);
  }
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_TRUE(zombie);
  auto probe = make(named(name));
  const auto r = run_once(io, probe);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(r.reason, "no_match");
  EXPECT_NE(evidence(r, "skipped").find("1 zombie"), std::string::npos) << all_evidence(r);
}

TEST_F(process_probe_test, matches_by_cmdline_regex_and_combines_with_name) {
  // A real exec: forked children would share this binary's cmdline.
  const std::string marker = "vtmark" + std::to_string(::getpid());
  const std::string script = "sleep 30; : " + marker;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  child shell(pid);
  process_matcher m;
  m.cmdline = marker + "$";
  std::string why;
  m.cmdline_regex = user_regex::compile(*m.cmdline, user_regex::anchoring::search, why);
  // exec takes a moment: wait until /proc shows the new cmdline.
  probe_result r;
  auto probe = make(m);
  for (int i = 0; i < 200; ++i) {
    r = run_once(io, probe);
    if (r.ok) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(sample_value(r, "vitals_process_matches"), 1.0);
  EXPECT_NE(evidence(r, "top 1").find("sh -c sleep 30; : " + marker), std::string::npos) << all_evidence(r);

  m.name = "sh";
  auto with_name = make(m);
  EXPECT_TRUE(run_once(io, with_name).ok);
  m.name = "sleep";  // the shell's child has no marker in its cmdline
  auto wrong_name = make(m);
  const auto miss = run_once(io, wrong_name);
  EXPECT_EQ(miss.reason, "no_match");
  EXPECT_EQ(miss.error, "no process matches name=sleep,cmdline=" + marker + "$ (min_count 1)");
}

TEST_F(process_probe_test, matches_by_user) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to start a child as another user";
  const auto name = unique_name("vtuser");
  constexpr uid_t nobody = 65534;
  child as_root = spawn_flat(name, mib);
  child as_nobody = spawn(name, [](int ready) {
    if (::setgid(nobody) != 0 || ::setuid(nobody) != 0) ::_exit(1);
    signal_ready(ready);
  });

  process_matcher m = named(name);
  m.uid = nobody;
  m.user = std::to_string(nobody);
  auto probe = make(m);
  const auto r = run_once(io, probe);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(sample_value(r, "vitals_process_matches"), 1.0);
  EXPECT_NE(evidence(r, "top 1").find("pid " + std::to_string(as_nobody.pid()) + " "), std::string::npos)
      << all_evidence(r);

  m.uid = 0;
  m.user = "root";
  auto as_root_probe = make(m);
  const auto root_r = run_once(io, as_root_probe);
  EXPECT_EQ(sample_value(root_r, "vitals_process_matches"), 1.0);
  EXPECT_NE(evidence(root_r, "top 1").find("pid " + std::to_string(as_root.pid()) + " "), std::string::npos);
}

TEST_F(process_probe_test, processes_starting_and_dying_during_scans_never_break_a_run) {
  const auto name = unique_name("vtchurn");
  constexpr int max_alive = 24;
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    std::vector<pid_t> alive;
    unsigned seed = 12345;
    while (!stop) {
      seed = seed * 1103515245 + 12345;
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::prctl(PR_SET_NAME, name.c_str());
        sleep_ms(static_cast<long>((seed >> 16) % 20));
        ::_exit(0);
      }
      if (pid > 0) alive.push_back(pid);
      // Some are killed, all are reaped late, so exits, kills and zombies
      // all happen while scans run.
      if (alive.size() >= max_alive) {
        for (std::size_t i = 0; i < alive.size(); i += 2) ::kill(alive[i], SIGKILL);
        for (const pid_t p : alive) ::waitpid(p, nullptr, 0);
        alive.clear();
      }
      sleep_ms(1);
    }
    for (const pid_t p : alive) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
  });

  auto probe = make(named(name), 2s, 0);
  int runs = 0;
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until) {
    probe_result r;
    ASSERT_NO_THROW(r = run_once(io, probe));
    EXPECT_TRUE(r.ok) << r.error;
    const auto count = sample_value(r, "vitals_process_matches").value_or(-1);
    EXPECT_GE(count, 0.0);
    EXPECT_LE(count, static_cast<double>(max_alive));
    ++runs;
  }
  stop = true;
  churn.join();
  EXPECT_GT(runs, 3);
}

TEST_F(process_probe_test, a_cancelled_run_stops_waiting_for_a_busy_pool_at_once) {
  asio::thread_pool busy{1};
  probe_context busy_ctx{io, busy};
  process_probe::settings s;
  s.match = named(unique_name("vtcancel"));
  s.min_count = 0;
  process_probe probe(std::move(s), busy_ctx);
  {
    test::pool_gate gate(busy);  // the scan cannot start
    const auto started = std::chrono::steady_clock::now();
    EXPECT_FALSE(run_with_deadline(io, probe, 50ms).has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  }
  // The abandoned scan finishes unobserved; the next run works.
  EXPECT_TRUE(run_once(io, probe).ok);
  busy.join();
}

}  // namespace
}  // namespace vitals
