// The alert engine at 1,000 probes: the built-in rules plus 100 rules of
// the user's (half with 5-minute ranges, half with 1-hour ranges) evaluated
// every 5 s over a simulated hour and a half, as the daemon runs them: the
// history recorded and every rule evaluated on one thread (the pool's),
// the alerts judged after (the loop's part).
//
//   rules_bench [probes=1000] [user_rules=100] [evaluations=1080] [fleet]
//
// Each user rule watches one team's ten probes; `fleet` makes every user
// rule watch every probe (100 rules over 1,000 probes' ranges: the worst
// case, beyond the default history cap).
// Prints per evaluation the CPU time of the pool's part (record + match)
// and of the loop's part (apply), and the history's size and heap.

#include "bench_support.hpp"

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/alerts/alert_rules.hpp"
#include "probes/core/probe_registry.hpp"

#include <malloc.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace vitals;

double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

double heap_mib() { return static_cast<double>(mallinfo2().uordblks) / (1024.0 * 1024.0); }

const char* kinds[] = {"port", "http", "redis", "postgres", "process", "disk", "log"};

// What /metrics holds for probe `i` at evaluation `step`: the common series
// and its kind's, with counters that grow and gauges that move.
void add_probe(alerts::series_table& t, int i, int step) {
  const std::string probe = "p" + std::to_string(i);
  const std::string kind = kinds[i % 7];
  using L = std::vector<std::pair<std::string_view, std::string_view>>;
  const bool down = (i + step / 12) % 97 == 0;
  t.add("vitals_probe_up", L{{"probe", probe}, {"kind", kind}}, down ? 0 : 1);
  t.add("vitals_probe_success", L{{"probe", probe}, {"kind", kind}}, down ? 0 : 1);
  for (const char* result : {"ok", "fail", "timeout", "skipped"})
    t.add("vitals_probe_runs_total", L{{"probe", probe}, {"kind", kind}, {"result", result}},
          result[0] == 'o' ? step : result[0] == 'f' ? step / 50 : 0);
  t.add("vitals_probe_duration_seconds_sum", L{{"probe", probe}, {"kind", kind}}, step * 0.0012);
  t.add("vitals_probe_duration_seconds_count", L{{"probe", probe}, {"kind", kind}}, step);
  for (const char* le : {"0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"})
    t.add("vitals_probe_duration_seconds_bucket", L{{"probe", probe}, {"kind", kind}, {"le", le}}, step);
  const double wave = (i * 37 + step) % 100 / 100.0;
  if (kind == "redis") {
    t.add("vitals_redis_memory_utilization_ratio", L{{"probe", probe}, {"limit", "maxmemory"}}, wave);
    t.add("vitals_redis_used_memory_bytes", L{{"probe", probe}}, 1e6 + step * 1000.0);
    t.add("vitals_redis_maxmemory_bytes", L{{"probe", probe}}, 1e9);
    t.add("vitals_redis_evicted_keys_total", L{{"probe", probe}}, step / 100);
  } else if (kind == "postgres") {
    t.add("vitals_postgres_connections_utilization_ratio", L{{"probe", probe}}, wave);
    t.add("vitals_postgres_idle_in_transaction_max_seconds", L{{"probe", probe}}, wave * 100);
    t.add("vitals_postgres_longest_query_seconds", L{{"probe", probe}}, wave * 10);
    for (const char* state : {"active", "idle", "idle_in_transaction"})
      t.add("vitals_postgres_connections", L{{"probe", probe}, {"state", state}}, 3);
    t.add("vitals_postgres_max_connections", L{{"probe", probe}}, 97);
  } else if (kind == "process") {
    t.add("vitals_process_rss_bytes", L{{"probe", probe}}, 1e8 + wave * 1e7);
    t.add("vitals_process_rss_growth_bytes_per_second", L{{"probe", probe}}, wave * 1000);
    t.add("vitals_process_fds_utilization_ratio", L{{"probe", probe}}, wave / 2);
  } else if (kind == "disk") {
    t.add("vitals_disk_free_ratio", L{{"probe", probe}, {"path", "/"}}, 0.5 + wave / 4);
  } else if (kind == "log") {
    for (const char* pattern : {"error", "warn"})
      t.add("vitals_log_matches_total", L{{"probe", probe}, {"pattern", pattern}}, step * (pattern[0] == 'e' ? 3 : 1));
  } else if (kind == "port") {
    t.add("vitals_port_conflict", L{{"probe", probe}}, 0);
  }
}

// Rules a user might write: rates, ratios, trends and flapping, each over
// 5 minutes or an hour. Rule i watches one team's ten probes
// (probe=~"p<i+1>[0-9]"), or with `fleet` every probe.
std::vector<alerts::rule> user_rules(int n, bool fleet) {
  const char* shapes[] = {
      "rate(vitals_probe_runs_total{result=\"fail\"{m}}[{w}]) > 0.1",
      "changes(vitals_probe_success{{m}}[{w}]) > 4",
      "avg_over_time(vitals_redis_memory_utilization_ratio{{m}}[{w}]) > 0.9",
      "predict_linear(vitals_redis_used_memory_bytes{{m}}[{w}], 3600) > on(probe) vitals_redis_maxmemory_bytes",
      "sum by (probe) (rate(vitals_log_matches_total{pattern=\"error\"{m}}[{w}])) * 60 > 100",
      "max_over_time(vitals_postgres_connections_utilization_ratio{{m}}[{w}]) > 0.95",
      "rate(vitals_probe_duration_seconds_sum{{m}}[{w}]) / rate(vitals_probe_duration_seconds_count{{m}}[{w}]) > 0.5",
      "histogram_quantile(0.99, sum by (probe, le) (rate(vitals_probe_duration_seconds_bucket{{m}}[{w}]))) > 1",
      "deriv(vitals_process_rss_bytes{{m}}[{w}]) > 100000",
      "min_over_time(vitals_disk_free_ratio{{m}}[{w}]) < 0.05",
  };
  std::vector<alerts::rule> out;
  for (int i = 0; i < n; ++i) {
    std::string when = shapes[i % 10];
    const std::string window = (i / 10) % 2 == 0 ? "5m" : "1h";
    const std::string team = fleet ? "" : "probe=~\"p" + std::to_string(i + 1) + "[0-9]\"";
    for (auto at = when.find("{w}"); at != std::string::npos; at = when.find("{w}")) when.replace(at, 3, window);
    for (auto at = when.find("{{m}}"); at != std::string::npos; at = when.find("{{m}}"))
      when.replace(at, 5, team.empty() ? "" : "{" + team + "}");
    for (auto at = when.find("{m}"); at != std::string::npos; at = when.find("{m}"))
      when.replace(at, 3, team.empty() ? "" : ", " + team);
    alerts::rule r;
    r.name = "UserRule" + std::to_string(i);
    r.when_text = when;
    auto parsed = alerts::parse_expr(when);
    if (!parsed.value) {
      std::fprintf(stderr, "%s: %s\n", when.c_str(), parsed.error->message.c_str());
      std::exit(1);
    }
    r.when = std::move(parsed.value);
    r.for_ = std::chrono::minutes(1);
    r.summary = "{{ $labels.probe }} at {{ $value }}";
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int probes = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int user = argc > 2 ? std::atoi(argv[2]) : 100;
  const int evaluations = argc > 3 ? std::atoi(argv[3]) : 1080;  // 90 minutes at 5 s
  const bool fleet = argc > 4 && std::string(argv[4]) == "fleet";

  probe_registry registry;
  register_builtin_probes(registry);
  auto rules = alerts::builtin_rules(registry);
  const std::size_t builtins = rules.size();
  for (auto& r : user_rules(user, fleet)) rules.push_back(std::move(r));

  alerts::engine engine;
  engine.set_rules(std::move(rules));
  const double heap_before = heap_mib();
  const auto t0 = alerts::wall_clock::time_point{} + std::chrono::hours(24 * 365 * 56);

  std::vector<double> pool_ms, loop_ms;
  std::size_t series = 0, matches = 0;
  for (int step = 0; step < evaluations; ++step) {
    const auto now = t0 + std::chrono::seconds(5 * step);
    alerts::series_table table;
    for (int i = 0; i < probes; ++i) add_probe(table, i, step);
    series = table.size();
    const double a = thread_cpu_ms();
    const auto query = engine.prepare(std::chrono::seconds(5));
    const auto results = alerts::engine::match(query, table, now);
    const double b = thread_cpu_ms();
    const auto changes = engine.apply(results, now);
    const double c = thread_cpu_ms();
    pool_ms.push_back(b - a);
    loop_ms.push_back(c - b);
    matches = 0;
    for (const auto& r : results) matches += r.matches.size();
    (void)changes;
  }
  // The last 30 minutes: every 1-hour window full.
  const std::vector<double> pool_full(pool_ms.end() - std::min<std::ptrdiff_t>(360, static_cast<std::ptrdiff_t>(pool_ms.size())), pool_ms.end());
  const auto h = engine.history_stats();
  std::printf("rules_bench: %d probes, %zu series, %zu built-in + %d user rules (%s), %d evaluations at 5 s\n",
              probes, series, builtins, user, fleet ? "each over every probe" : "each over ten probes", evaluations);
  std::printf("%-34s %10s %10s %10s\n", "", "p50", "p99", "max");
  std::printf("%-34s %10.2f %10.2f %10.2f\n", "evaluation CPU ms (pool: record+match)",
              vitals::bench::percentile(pool_full, 0.5), vitals::bench::percentile(pool_full, 0.99),
              vitals::bench::percentile(pool_full, 1.0));
  std::printf("%-34s %10.2f %10.2f %10.2f\n", "judging CPU ms (loop: apply)", vitals::bench::percentile(loop_ms, 0.5),
              vitals::bench::percentile(loop_ms, 0.99), vitals::bench::percentile(loop_ms, 1.0));
  std::printf("history: %zu series, %zu samples, %zu left out (cap %zu); heap %.1f MiB more than before the first "
              "evaluation; RSS %.1f MiB; %zu matching series in the last evaluation\n",
              h.series, h.samples, h.dropped, h.max_series, heap_mib() - heap_before, vitals::bench::rss_mib(), matches);
  return 0;
}
