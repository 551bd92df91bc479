// Benchmark, not a test: N port probes at a 1 s interval against local
// listeners, on one event loop, as the daemon runs them. Prints probes/s,
// CPU seconds per 1,000 probe runs, RSS, scheduler lag p50/p99 and /metrics
// serialisation time. Usage: port_bench [seconds=10] [counts=1000,10000]
#include "bench_support.hpp"
#include "daemon/app/runtime.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/sched/scheduler.hpp"
#include "probes/port/port_probe.hpp"
#include "probes/port/socket_owner_index.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace vitals;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using bench::cpu_seconds;
using bench::measuring_sink;
using bench::percentile;
using bench::rss_mib;

namespace {

constexpr int listener_ports = 64;  // spreads client 4-tuples so TIME_WAIT never runs out

// Accepts and closes on every port, in its own process, so its CPU is not ours.
[[noreturn]] void serve_listeners(int ready_fd) {
  prctl(PR_SET_NAME, "bench-listener");
  asio::io_context io(1);
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::string ports;
  for (int i = 0; i < listener_ports; ++i) {
    auto a = std::make_unique<tcp::acceptor>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    a->listen(4096);
    ports += std::to_string(a->local_endpoint().port()) + " ";
    asio::co_spawn(io, [&a = *a]() -> asio::awaitable<void> {
      for (;;) {
        auto s = co_await a.async_accept(asio::use_awaitable);
        boost::system::error_code ignored;
        s.close(ignored);
      }
    }, asio::detached);
    acceptors.push_back(std::move(a));
  }
  ports += "\n";
  if (write(ready_fd, ports.data(), ports.size()) < 0) _exit(1);
  close(ready_fd);
  io.run();
  _exit(0);
}

void run_probes(int count, int seconds, const std::vector<std::uint16_t>& ports) {
  runtime rt;
  metrics m(rt.registry);
  measuring_sink sink(m);
  scheduler sched(rt.io, sink);

  std::vector<probe_spec> probes;
  for (int i = 0; i < count; ++i) {
    port_probe::settings ps;
    ps.host = "127.0.0.1";
    ps.ports = {ports[static_cast<std::size_t>(i) % ports.size()]};
    probe_spec spec;
    spec.settings.name = "port-" + std::to_string(i);
    spec.settings.type = "port";
    spec.settings.interval = 1s;
    spec.settings.timeout = 500ms;
    spec.fingerprint = spec.settings.name;
    spec.instance = std::make_shared<port_probe>(ps, rt.ctx);
    probes.push_back(std::move(spec));
  }
  sched.apply(probes);

  rt.io.run_for(2s);  // warm-up: initial offsets spread the probes over the first second
  const double cpu_before = cpu_seconds();
  const auto scans_before = asio::use_service<socket_owner_index>(rt.io).scans();
  sink.measuring = true;
  rt.io.run_for(std::chrono::seconds(seconds));
  sink.measuring = false;
  const double cpu = cpu_seconds() - cpu_before;
  const auto scans = asio::use_service<socket_owner_index>(rt.io).scans() - scans_before;
  const double rss = rss_mib();

  std::vector<double> serialize_ms;
  std::size_t bytes = 0;
  for (int i = 0; i < 15; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    bytes = m.serialize().size();
    serialize_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  sched.stop();
  rt.io.run_for(1s);

  std::printf("%7d  %9.1f  %11.4f  %8.1f  %11.3f  %11.3f  %10.2f  %11.0f  %6llu  %7llu  %5.1f\n", count,
              static_cast<double>(sink.runs) / seconds, sink.runs ? cpu / static_cast<double>(sink.runs) * 1000 : 0,
              rss, percentile(sink.lags, 0.50) * 1000, percentile(sink.lags, 0.99) * 1000,
              percentile(serialize_ms, 0.5), static_cast<double>(bytes) / 1024,
              static_cast<unsigned long long>(sink.skipped + sink.failures), static_cast<unsigned long long>(scans),
              static_cast<double>(scans) / seconds);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
  std::vector<int> counts{1000, 10000};
  if (argc > 2) {
    counts.clear();
    std::stringstream in(argv[2]);
    for (std::string c; std::getline(in, c, ',');) counts.push_back(std::stoi(c));
  }
  spdlog::set_level(spdlog::level::err);
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return 1;
  const pid_t listener = fork();
  if (listener == 0) {
    close(pipe_fds[0]);
    serve_listeners(pipe_fds[1]);
  }
  close(pipe_fds[1]);
  std::string line;
  char buf[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) > 0;) line.append(buf, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  std::vector<std::uint16_t> ports;
  std::stringstream in(line);
  for (int p; in >> p;) ports.push_back(static_cast<std::uint16_t>(p));

  std::printf("port probes at 1s interval, %d s measured per row, %zu local listener ports, %ld cores\n", seconds,
              ports.size(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("%7s  %9s  %11s  %8s  %11s  %11s  %10s  %11s  %6s  %7s  %5s\n", "probes", "runs/s", "cpu_s/1000",
              "rss_MiB", "lag_p50_ms", "lag_p99_ms", "metrics_ms", "metrics_KiB", "failed", "scans", "scans/s");
  std::fflush(stdout);
  for (int count : counts) {
    // Each size in its own process, so RSS is that size's alone.
    const pid_t child = fork();
    if (child == 0) {
      run_probes(count, seconds, ports);
      _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
  }
  kill(listener, SIGTERM);
  waitpid(listener, nullptr, 0);
  return 0;
}
