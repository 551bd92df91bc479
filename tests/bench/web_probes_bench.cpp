// Benchmark, not a test: the HTTP and WebSocket probes against local
// fixture servers (run in a child process, so their CPU is not counted):
//   1. N HTTP probes at a 1 s interval through the scheduler: runs/s, CPU,
//      scheduler lag, RSS; then prometheus-blackbox-exporter's http_2xx
//      module driven at the same rate against the same server (as
//      Prometheus would scrape N targets every second, over kept-alive
//      connections): its CPU, RSS and answer latency;
//   2. CPU per run of each probe kind, back to back on the loop (http-plain: a
//      GET judged by its status alone).
// Usage: web_probes_bench [seconds=10] [probes=1000]
#include "bench_support.hpp"
#include "daemon/app/config.hpp"
#include "daemon/app/runtime.hpp"
#include "daemon/sched/scheduler.hpp"
#include "fixtures/http_fixture_server.hpp"
#include "fixtures/ws_fixture_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <spdlog/spdlog.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace vitals;
using namespace std::chrono_literals;
namespace http = boost::beast::http;
using bench::cpu_seconds;
using clock_type = std::chrono::steady_clock;

namespace {

struct targets {
  pid_t pid = -1;
  int http_port = 0;
  int ws_port = 0;
};

// The fixture servers in their own process.
targets start_targets() {
  int fds[2];
  if (pipe(fds) != 0) std::exit(1);
  targets t;
  t.pid = fork();
  if (t.pid == 0) {
    prctl(PR_SET_NAME, "bench-targets");
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(fds[0]);
    test::http_fixture_server http_server;
    test::ws_fixture_server ws_server;
    const std::string ports = std::to_string(http_server.port()) + " " + std::to_string(ws_server.port()) + "\n";
    if (write(fds[1], ports.data(), ports.size()) < 0) _exit(1);
    close(fds[1]);
    pause();
    _exit(0);
  }
  close(fds[1]);
  char buf[64] = {};
  if (read(fds[0], buf, sizeof buf - 1) <= 0) std::exit(1);
  close(fds[0]);
  std::sscanf(buf, "%d %d", &t.http_port, &t.ws_port);
  return t;
}

std::shared_ptr<const config> load(runtime& rt, const std::string& yaml) {
  auto loaded = load_config_text(yaml, "bench.yaml", rt.registry, rt.ctx);
  if (!loaded.cfg) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    std::exit(2);
  }
  return std::move(loaded.cfg);
}

void per_run_costs(const targets& t, int runs) {
  runtime rt;
  const std::string health = "http://127.0.0.1:" + std::to_string(t.http_port) + "/health";
  const std::string ws = "ws://127.0.0.1:" + std::to_string(t.ws_port) + "/ws";
  auto cfg = load(rt, "probes:\n"
                      "  - {name: http-plain, type: http, url: '" + health + "'}\n"
                      "  - {name: http-health, type: http, url: '" + health + "', expect_json: {status: healthy}, "
                      "extract: {errors: .metrics.totalErrors}}\n"
                      "  - {name: websocket-ping, type: websocket, url: '" + ws + "', send: '{\"type\":\"ping\"}', "
                      "expect_json: {type: pong}}\n"
                      "  - {name: websocket-kept, type: websocket, url: '" + ws + "', send: '{\"type\":\"ping\"}', "
                      "expect_json: {type: pong}, persistent: true}\n"
                      "  - {name: websocket-control, type: websocket, url: '" + ws + "', mode: control}\n");
  std::printf("\n2. one run, back to back (%d runs each)\n", runs);
  std::printf("%-20s %12s %12s %8s\n", "probe", "cpu_us/run", "wall_us/run", "failed");
  for (const auto& spec : cfg->probes) {
    int failed = 0;
    bool done = false;
    const double cpu_before = cpu_seconds();
    const auto wall_before = clock_type::now();
    asio::co_spawn(rt.io, [&]() -> asio::awaitable<void> {
      for (int i = 0; i < runs; ++i) {
        auto out = co_await run_with_deadline(*spec.instance, 5s);
        failed += out.result.ok ? 0 : 1;
      }
      done = true;
    }, asio::detached);
    // Not run(): a persistent probe's reader keeps the loop busy for good.
    rt.io.restart();
    while (!done) rt.io.run_one();
    const double cpu = cpu_seconds() - cpu_before;
    const double wall = std::chrono::duration<double>(clock_type::now() - wall_before).count();
    std::printf("%-20s %12.1f %12.1f %8d\n", spec.settings.name.c_str(), cpu / runs * 1e6, wall / runs * 1e6, failed);
  }
  std::fflush(stdout);
}

// N HTTP probes at 1 s through the scheduler, in this (child) process.
void scheduled(const targets& t, int count, int seconds) {
  runtime rt;
  metrics m(rt.registry);
  bench::measuring_sink sink(m);
  scheduler sched(rt.io, sink);
  std::string yaml = "probes:\n";
  const std::string health = "http://127.0.0.1:" + std::to_string(t.http_port) + "/health";
  for (int i = 0; i < count; ++i)
    yaml += "  - {name: h" + std::to_string(i) + ", type: http, url: '" + health +
            "', interval: 1s, timeout: 900ms, expect_json: {status: healthy}}\n";
  auto cfg = load(rt, yaml);
  sched.apply(cfg->probes);
  rt.io.run_for(2s);  // warm-up: initial offsets spread the probes over the first second
  const double cpu_before = cpu_seconds();
  sink.measuring = true;
  rt.io.run_for(std::chrono::seconds(seconds));
  sink.measuring = false;
  const double cpu = cpu_seconds() - cpu_before;
  std::printf("%-34s %9.1f %8.1f%% %9.3f %9.3f %9.1f %7llu\n", ("vitalsd, " + std::to_string(count) + " http probes").c_str(),
              static_cast<double>(sink.runs) / seconds, cpu / seconds * 100, bench::percentile(sink.lags, 0.5) * 1000,
              bench::percentile(sink.lags, 0.99) * 1000, bench::rss_mib(),
              static_cast<unsigned long long>(sink.failures + sink.skipped));
  std::fflush(stdout);
  sched.stop();
  rt.io.run_for(1s);
}

// Drives blackbox_exporter's /probe at `rate` per second over kept-alive
// connections, like a Prometheus scraping `rate` targets every second.
struct driver_stats {
  std::uint64_t answers = 0, failures = 0;
  std::vector<double> latencies;
};

asio::awaitable<void> drive(int blackbox_port, std::string target, int connection, int connections, int rate,
                            clock_type::time_point start, clock_type::time_point measure_from,
                            clock_type::time_point until, driver_stats& stats) {
  auto ex = co_await asio::this_coro::executor;
  boost::beast::tcp_stream stream(ex);
  co_await stream.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                                        static_cast<std::uint16_t>(blackbox_port)),
                                asio::use_awaitable);
  asio::steady_timer timer(ex);
  const auto period = std::chrono::nanoseconds(1'000'000'000LL * connections / rate);
  auto due = start + std::chrono::nanoseconds(1'000'000'000LL * connection / rate);
  http::request<http::empty_body> req{http::verb::get, "/probe?module=http_2xx&target=" + target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.keep_alive(true);
  boost::beast::flat_buffer buffer;
  while (due < until) {
    timer.expires_at(due);
    co_await timer.async_wait(asio::use_awaitable);
    const auto sent = clock_type::now();
    co_await http::async_write(stream, req, asio::use_awaitable);
    http::response<http::string_body> res;
    co_await http::async_read(stream, buffer, res, asio::use_awaitable);
    if (sent >= measure_from) {
      ++stats.answers;
      if (res.body().find("\nprobe_success 1") == std::string::npos) ++stats.failures;
      stats.latencies.push_back(std::chrono::duration<double>(clock_type::now() - sent).count());
    }
    due += period;
  }
}

int free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

void blackbox(const targets& t, int rate, int seconds) {
  const char* binary = "/usr/bin/prometheus-blackbox-exporter";
  if (!std::filesystem::exists(binary)) {
    std::printf("%-34s (not installed: apt-get install prometheus-blackbox-exporter)\n", "blackbox_exporter");
    return;
  }
  char dir_template[] = "/tmp/vitals-bench-bb-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  std::ofstream(dir + "/blackbox.yml") << "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
                                           "    http:\n      preferred_ip_protocol: ip4\n";
  const int port = free_port();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const std::string cfg = "--config.file=" + dir + "/blackbox.yml";
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port);
    std::freopen("/dev/null", "w", stderr);
    execl(binary, binary, cfg.c_str(), listen.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Until it listens.
  for (int i = 0; i < 200; ++i) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port)}, ec);
    if (!ec) break;
    std::this_thread::sleep_for(50ms);
  }
  const std::string target = "http%3A%2F%2F127.0.0.1%3A" + std::to_string(t.http_port) + "%2Fhealth";
  asio::io_context io;
  driver_stats stats;
  const int connections = 32;
  const auto start = clock_type::now() + 100ms;
  const auto measure_from = start + 2s;
  const auto until = measure_from + std::chrono::seconds(seconds);
  for (int c = 0; c < connections; ++c)
    asio::co_spawn(io, drive(port, target, c, connections, rate, start, measure_from, until, stats), asio::detached);
  // Its CPU over the measured window, read from /proc while the driver runs.
  double cpu = 0, rss = 0;
  std::thread cpu_probe([&] {
    std::this_thread::sleep_until(measure_from);
    const double before = bench::cpu_seconds_of(pid);
    std::this_thread::sleep_until(until);
    cpu = bench::cpu_seconds_of(pid) - before;
    rss = bench::rss_mib(std::to_string(pid));
  });
  io.run();
  cpu_probe.join();
  std::printf("%-34s %9.1f %8.1f%% %9s %9s %9.1f %7llu   (answers %.2f ms p50, %.2f ms p99)\n",
              "blackbox_exporter http_2xx", static_cast<double>(stats.answers) / seconds, cpu / seconds * 100, "-",
              "-", rss, static_cast<unsigned long long>(stats.failures),
              bench::percentile(stats.latencies, 0.5) * 1000, bench::percentile(stats.latencies, 0.99) * 1000);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
  const int count = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1000;
  spdlog::set_level(spdlog::level::err);
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);

  const auto t = start_targets();
  std::printf("targets: the HTTP and WebSocket fixture servers in one separate process; %ld cores\n",
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("\n1. %d probes a second for %d s, after 2 s of warm-up\n", count, seconds);
  std::printf("%-34s %9s %9s %9s %9s %9s %7s\n", "", "runs/s", "cpu", "lag_p50", "lag_p99", "rss_MiB", "failed");
  const pid_t child = fork();
  if (child == 0) {
    scheduled(t, count, seconds);
    _exit(0);
  }
  waitpid(child, nullptr, 0);
  blackbox(t, count, seconds);

  per_run_costs(t, 2000);

  kill(t.pid, SIGTERM);
  waitpid(t.pid, nullptr, 0);
  return 0;
}
