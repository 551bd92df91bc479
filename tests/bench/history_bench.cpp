// What the run history costs the daemon, against the budget of 1,000
// probes at 15 s: the memory of the recent runs and uptime windows, the CPU
// of recording runs and of writing the aggregates, the state file after a
// week of them (pruned hourly as the daemon does), and the status page
// rendered for 100 probes. Prints figures; asserts nothing.
//
//   history_bench [dir=/tmp] [probes=1000] [interval_s=15] [days=7] [page_probes=100]
//
// Time is simulated: a week of runs is fed in as fast as they can be
// recorded, with the aggregates written each simulated minute as the
// daemon's keeper would (one transaction per minute's rows).

#include "daemon/server/status_views.hpp"
#include "daemon/state/probe_history.hpp"
#include "daemon/state/state_store.hpp"

#include "bench_support.hpp"

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace vitals;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using wall = std::chrono::system_clock;

namespace {

double heap_mib() { return static_cast<double>(mallinfo2().uordblks) / (1024.0 * 1024.0); }

double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }

// One probe in ten has key values (a Redis probe), the rest are port probes.
probe_settings settings_of(int i) {
  probe_settings s;
  s.name = "probe-" + std::to_string(i);
  s.type = i % 10 == 0 ? "redis" : "port";
  s.interval = 15s;
  return s;
}

run_outcome run_of(const probe_settings& s, int n, wall::time_point at) {
  run_outcome o;
  o.result.ok = n % 97 != 0;  // now and then a failure
  if (!o.result.ok) o.result.error = "port 3001 closed (connection refused)";
  o.duration_seconds = 0.0004 + 0.0001 * (n % 7);
  o.finished_at = at;
  if (s.type == "redis")
    o.result.samples = {{"vitals_redis_used_memory_bytes", {}, 1e6 + n}, {"vitals_redis_maxmemory_bytes", {}, 6.4e7}};
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/tmp";
  const int probes = argc > 2 ? std::stoi(argv[2]) : 1000;
  const int interval_s = argc > 3 ? std::stoi(argv[3]) : 15;
  const int days = argc > 4 ? std::stoi(argv[4]) : 7;
  const int page_probes = argc > 5 ? std::stoi(argv[5]) : 100;
  const auto path = dir + "/vitals-history-bench-" + std::to_string(::getpid()) + ".db";
  std::filesystem::remove(path);

  std::vector<probe_settings> all;
  for (int i = 0; i < probes; ++i) all.push_back(settings_of(i));

  const double rss_before = bench::rss_mib(), heap_before = heap_mib();
  probe_history history;
  for (const auto& s : all) history.probe_added(s);

  state_store store(path);
  if (!store.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(), store.problem().c_str());
    return 1;
  }
  retention keep;  // history_max_age 7d, as by default

  // A whole hour, so the first aggregates start at their step.
  const auto start = wall::time_point(std::chrono::hours(24 * 365 * 56));
  const auto end = start + std::chrono::hours(24 * days);
  double record_s = 0, write_s = 0, prune_s = 0;
  std::size_t runs = 0, rows = 0, writes = 0;
  std::uintmax_t file_peak = 0;
  std::vector<double> write_ms;
  int n = 0;
  // Runs spread over the interval as the scheduler's phases spread them.
  for (auto minute = start; minute < end; minute += 1min) {
    auto t = steady::now();
    for (int second = 0; second < 60; ++second) {
      const auto now = minute + std::chrono::seconds(second);
      for (int i = second % interval_s; i < probes; i += interval_s) {
        history.run_finished(all[i], run_of(all[i], ++n, now));
        ++runs;
      }
    }
    history.close_due(minute + 1min);
    auto closed = history.take_closed();
    record_s += seconds_since(t);
    t = steady::now();
    if (!store.save({}, {}, closed)) {
      std::fprintf(stderr, "save failed: %s\n", store.problem().c_str());
      return 1;
    }
    const double took = seconds_since(t);
    write_s += took;
    write_ms.push_back(took * 1000);
    rows += closed.size();
    ++writes;
    if ((minute - start) % 1h == 0min) {
      t = steady::now();
      store.prune(keep, minute);
      prune_s += seconds_since(t);
      file_peak = std::max(file_peak, std::filesystem::file_size(path));
    }
  }
  ::malloc_trim(0);
  const double rss_after = bench::rss_mib(), heap_after = heap_mib();
  const auto file_end = std::filesystem::file_size(path);

  const double simulated_s = std::chrono::duration<double>(end - start).count();
  const double cpu_share = (record_s + write_s + prune_s) / simulated_s;

  // The status page for `page_probes` of them, each with a full history.
  status_page page;
  page.host = "bench";
  page.now = end;
  for (int i = 0; i < page_probes && i < probes; ++i) {
    probe_status p;
    p.settings = all[i];
    p.target = "127.0.0.1:3001";
    p.up = true;
    run_outcome last = run_of(all[i], 1, end);
    p.last = last;
    page.probes.push_back(p);
    page.history.emplace(all[i].name, *history.find(all[i].name, end));
  }
  std::vector<double> render_ms;
  std::size_t page_bytes = 0;
  for (int i = 0; i < 30; ++i) {
    const auto t = steady::now();
    page_bytes = status_page_html(page).size();
    render_ms.push_back(seconds_since(t) * 1000);
  }

  std::printf("history_bench: %d probes at %d s for %d simulated days (%zu runs, %zu aggregates written)\n", probes,
              interval_s, days, runs, rows);
  std::printf("%-42s %10.2f MiB (heap %.2f MiB)\n", "memory added (RSS)", rss_after - rss_before,
              heap_after - heap_before);
  std::printf("%-42s %10.3f us\n", "record one run", record_s / static_cast<double>(runs) * 1e6);
  std::printf("%-42s %10.2f ms p50, %.2f ms p99 (%.0f rows each)\n", "write one minute's aggregates",
              bench::percentile(write_ms, 0.5), bench::percentile(write_ms, 0.99),
              static_cast<double>(rows) / static_cast<double>(writes));
  std::printf("%-42s %10.3f %% of a core (record %.3f, write %.3f, prune %.3f)\n", "CPU", cpu_share * 100,
              record_s / simulated_s * 100, write_s / simulated_s * 100, prune_s / simulated_s * 100);
  std::printf("%-42s %10.1f MiB at the end, %.1f MiB at most\n", "state file",
              static_cast<double>(file_end) / (1024.0 * 1024.0), static_cast<double>(file_peak) / (1024.0 * 1024.0));
  std::printf("%-42s %10.2f ms p50, %.2f ms p99, %.0f KiB\n",
              ("status page, " + std::to_string(page.probes.size()) + " probes").c_str(),
              bench::percentile(render_ms, 0.5), bench::percentile(render_ms, 0.99),
              static_cast<double>(page_bytes) / 1024.0);
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return 0;
}
