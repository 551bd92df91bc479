// What the state store costs: one save of the active alerts (the daemon
// writes one per evaluation with a transition, and once a minute), loading
// the incident log at start, and an hourly prune. Prints figures; asserts
// nothing.
//
//   state_store_bench [dir=/tmp] [alerts=10,100,1000] [incidents=10000]

#include "daemon/state/state_store.hpp"

#include "bench_support.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

using namespace vitals;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

alerts::alert_instance make_alert(int i, alerts::wall_clock::time_point now) {
  alerts::alert_instance a;
  a.rule = i % 2 ? "ProbeDown" : "PortConflict";
  a.label_values = {{"alertname", a.rule}, {"probe", "probe-" + std::to_string(i)}, {"kind", "port"},
                    {"severity", "high"}};
  a.state = alerts::alert_state::firing;
  a.active_since = now - 10min;
  a.fired_at = now - 9min;
  a.last_seen = now;
  a.summary = "probe-" + std::to_string(i) + " (port) is down";
  a.runbook_url = "file:///usr/share/doc/vitals/runbooks/ProbeDown.md";
  a.evidence = "cause: port 3001 owned by python3 (pid 4242), expected node\nowner: python3 (pid 4242, user dev)\n"
               "cmdline: python3 -m http.server 3001";
  a.incident_id = i + 1;
  return a;
}

incident make_incident(std::int64_t id, alerts::wall_clock::time_point started, bool resolved) {
  incident i;
  i.id = id;
  i.alertname = "ProbeDown";
  i.severity = "high";
  i.labels = {{"probe", "probe-" + std::to_string(id % 100)}, {"kind", "port"}};
  i.started = started;
  if (resolved) i.resolved = started + 5min;
  i.summary = "probe is down";
  i.runbook_url = "file:///usr/share/doc/vitals/runbooks/ProbeDown.md";
  i.evidence_json =
      R"js({"probe":"api","kind":"port","target":"127.0.0.1:3001","reason":"conflict",)js"
      R"js("cause":"port 3001 owned by python3 (pid 4242), expected node",)js"
      R"js("evidence":{"owner":"python3 (pid 4242, user dev)","cmdline":"python3 -m http.server 3001"}})js";
  return i;
}

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/tmp";
  std::vector<int> alert_counts{10, 100, 1000};
  if (argc > 2) {
    alert_counts.clear();
    std::stringstream in(argv[2]);
    for (std::string n; std::getline(in, n, ',');) alert_counts.push_back(std::stoi(n));
  }
  const int incident_count = argc > 3 ? std::stoi(argv[3]) : 10'000;
  const auto path = dir + "/vitals_state_bench_" + std::to_string(::getpid()) + ".db";
  const auto now = alerts::wall_clock::now();

  std::printf("%-8s %12s %12s %14s\n", "alerts", "save_p50_ms", "save_p99_ms", "save_cpu_ms");
  for (const int n : alert_counts) {
    std::filesystem::remove(path);
    state_store store(path);
    std::vector<saved_alert> active;
    for (int i = 0; i < n; ++i) active.push_back({make_alert(i, now), "vitals_probe_up == 0"});
    std::vector<double> times;
    const double cpu0 = bench::cpu_seconds();
    constexpr int rounds = 50;
    for (int r = 0; r < rounds; ++r) {
      // As after an evaluation with a transition: all alerts, one incident changed.
      const auto t = clock_type::now();
      store.save(active, {make_incident(r + 1, now, false)});
      times.push_back(ms_since(t));
    }
    std::printf("%-8d %12.2f %12.2f %14.2f\n", n, bench::percentile(times, 0.5), bench::percentile(times, 0.99),
                (bench::cpu_seconds() - cpu0) * 1000 / rounds);
  }

  std::filesystem::remove(path);
  state_store store(path);
  std::vector<incident> log;
  for (int i = 0; i < incident_count; ++i)
    log.push_back(make_incident(i + 1, now - std::chrono::minutes(incident_count - i), true));
  auto t = clock_type::now();
  store.save({}, log);
  const double write_all = ms_since(t);
  t = clock_type::now();
  const auto loaded = store.load_incidents(now - 30 * 24h, 10'000);
  const double load = ms_since(t);
  t = clock_type::now();
  const auto gone = store.prune({std::chrono::milliseconds(24h), 1000}, now);
  const double prune = ms_since(t);
  std::printf("\nincident log: %d written in one transaction %.1f ms; loading %zu at start %.1f ms; "
              "prune to 1000 (%zu deleted) %.1f ms; file %.1f MiB\n",
              incident_count, write_all, loaded ? loaded->size() : 0, load, gone.value_or(0), prune,
              static_cast<double>(std::filesystem::file_size(path)) / (1024 * 1024));
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return 0;
}
