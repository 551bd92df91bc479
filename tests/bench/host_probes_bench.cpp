// Benchmark, not a test: CPU cost of one run of the host probes (process,
// disk, sqlite, port with its owner), on a host with a few hundred
// processes. Each probe kind is built from YAML exactly as the daemon builds
// it and run back to back on the loop; CPU counts the loop and the pool
// threads.
// Usage: host_probes_bench [runs=200] [processes=300]
#include "bench_support.hpp"
#include "daemon/app/config.hpp"
#include "daemon/app/runtime.hpp"
#include "daemon/sched/scheduler.hpp"
#include "probes/port/socket_owner_index.hpp"
#include "probes/process/process_scan.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

using namespace vitals;
using bench::cpu_seconds;

namespace {

std::size_t processes_on_host() {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc"))
    n += std::isdigit(static_cast<unsigned char>(e.path().filename().string()[0])) ? 1 : 0;
  return n;
}

// Sleeping children, so the host has `target` processes: five named
// bench-app, the rest bench-idle.
std::vector<pid_t> fill_host(std::size_t target) {
  std::vector<pid_t> children;
  while (processes_on_host() < target) {
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_NAME, children.size() < 5 ? "bench-app" : "bench-idle");
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      pause();
      _exit(0);
    }
    if (pid < 0) break;
    children.push_back(pid);
  }
  return children;
}

std::string make_database(const std::string& dir) {
  const std::string path = dir + "/bench.db";
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "CREATE TABLE t(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<10000) "
               "INSERT INTO t SELECT randomblob(100) FROM c;", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return path;
}

// A WAL copy of the database, held by a child in an open write
// transaction: the run then names a lock holder.
pid_t hold_wal_lock(const std::string& path) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES(1);"
                     "BEGIN IMMEDIATE; INSERT INTO t VALUES(2);", nullptr, nullptr, nullptr);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char c = 0;
  if (read(ready[0], &c, 1) != 1) std::fprintf(stderr, "lock holder did not start\n");
  close(ready[0]);
  close(ready[1]);
  return pid;
}

// A child named bench-listener listening on `count` loopback ports, as a
// dev server would; returns the ports.
std::vector<std::uint16_t> serve_ports(int count, std::vector<pid_t>& children) {
  int report[2];
  if (pipe(report) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NAME, "bench-listener");
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int i = 0; i < count; ++i) {
      const int s = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof addr;
      if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(s, 4096) != 0 ||
          getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        _exit(1);
      const std::uint16_t port = ntohs(addr.sin_port);
      if (write(report[1], &port, sizeof port) != sizeof port) _exit(1);
    }
    close(report[1]);
    for (;;) pause();  // never accepts: each probe's connection waits in the queue until the probe closes it
  }
  close(report[1]);
  children.push_back(pid);
  std::vector<std::uint16_t> ports(static_cast<std::size_t>(count));
  for (auto& port : ports)
    if (read(report[0], &port, sizeof port) != sizeof port) port = 0;
  close(report[0]);
  return ports;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const std::size_t processes = argc > 2 ? static_cast<std::size_t>(std::atoi(argv[2])) : 300;
  spdlog::set_level(spdlog::level::err);
  char dir_template[] = "/tmp/vitals-bench-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string db = make_database(dir);
  auto children = fill_host(processes);
  const std::string wal_db = dir + "/held.db";
  children.push_back(hold_wal_lock(wal_db));
  constexpr int port_probes = 3;
  const auto ports = serve_ports(port_probes, children);
  // A real host's processes are old. The probes read young ones in full on
  // every run (they may still exec or rename themselves), so measure once
  // ours have settled.
  const auto settled = process_scanner::timing{}.settle_time + std::chrono::seconds(1);
  std::printf("waiting %lld s for the children to settle\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(settled).count()));
  std::this_thread::sleep_for(settled);

  runtime rt;
  const bool have_sqlite = rt.registry.find("sqlite") != nullptr;
  std::string yaml = "probes:\n"
                     "  - {name: process-by-name, type: process, match: {name: bench-app}}\n"
                     "  - {name: process-by-cmdline, type: process, match: {cmdline: 'no-such-thing-[0-9]+'}, min_count: 0}\n"
                     "  - {name: process-all-idle, type: process, match: {name: bench-idle}}\n"
                     "  - {name: disk, type: disk, path: " + dir + "}\n";
  if (have_sqlite) {
    yaml += "  - {name: sqlite, type: sqlite, path: " + db + "}\n";
    yaml += "  - {name: sqlite-locked-wal, type: sqlite, path: " + wal_db + "}\n";  // fails: locked
    yaml += "  - {name: sqlite-quick-check, type: sqlite, path: " + db +
            ", integrity_check: quick, integrity_interval: 1ms}\n";
  }
  // Three port probes sharing the owner index, rows of their own: each
  // run's owner lookup included (see below).
  for (int i = 0; i < port_probes; ++i)
    yaml += "  - {name: port-owner-" + std::to_string(i + 1) + ", type: port, host: 127.0.0.1, port: " +
            std::to_string(ports[static_cast<std::size_t>(i)]) + ", expect_process: bench-listener}\n";
  auto loaded = load_config_text(yaml, "bench.yaml", rt.registry, rt.ctx);
  if (!loaded.cfg) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    return 2;
  }

  // Back to back, every port run would reuse the snapshot of the first for
  // a second. Probes spread over their interval find it older than max_age
  // and refresh it: with max_age 0 every run here pays that refresh, the
  // listing and the owners, as the daemon's do.
  asio::use_service<socket_owner_index>(rt.io).set_max_age(std::chrono::steady_clock::duration::zero());
  std::printf("%zu processes on the host, %d runs per probe\n", processes_on_host(), runs);
  std::printf("%-20s %12s %12s %8s\n", "probe", "cpu_us/run", "wall_us/run", "failed");
  for (const auto& spec : loaded.cfg->probes) {
    int failed = 0;
    const double cpu_before = cpu_seconds();
    const auto wall_before = std::chrono::steady_clock::now();
    asio::co_spawn(rt.io, [&]() -> asio::awaitable<void> {
      for (int i = 0; i < runs; ++i) {
        auto out = co_await run_with_deadline(*spec.instance, std::chrono::seconds(5));
        failed += out.result.ok ? 0 : 1;
      }
    }, asio::detached);
    rt.io.restart();
    rt.io.run();
    const double cpu = cpu_seconds() - cpu_before;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
    std::printf("%-20s %12.1f %12.1f %8d\n", spec.settings.name.c_str(), cpu / runs * 1e6, wall / runs * 1e6, failed);
  }
  if (!have_sqlite) std::printf("(sqlite probe not registered in this build)\n");
  const auto& owners = asio::use_service<socket_owner_index>(rt.io);
  std::printf("port owner index: %llu snapshots, %llu walks of every /proc/<pid>/fd\n",
              static_cast<unsigned long long>(owners.scans()), static_cast<unsigned long long>(owners.owner_walks()));

  // For scale: what the runbook's own command costs on the same host.
  const int ps_runs = 20;
  const double ps_before = cpu_seconds(RUSAGE_CHILDREN);
  for (int i = 0; i < ps_runs; ++i)
    if (std::system("ps aux | grep -c bench-app > /dev/null") != 0) break;
  std::printf("%-20s %12.1f %12s %8s\n", "ps aux | grep", (cpu_seconds(RUSAGE_CHILDREN) - ps_before) / ps_runs * 1e6,
              "-", "-");

  for (pid_t pid : children) kill(pid, SIGKILL);
  for (pid_t pid : children) waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(dir);
  return 0;
}
