// The same rules, fed the same series, fire the same alerts at the same
// times in the daemon's engine and in Prometheus: the engine's answers are
// written as a `promtool test rules` suite, and Prometheus's own promtool
// must agree with every one of them.

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/alerts/alert_rules.hpp"

#include "support/alert_rule.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace vitals::alerts {
namespace {

using namespace std::chrono_literals;

// One input series: its labels and a value per 15 s step.
struct input {
  std::string name;
  labels label_values;
  std::vector<double> values;
};

std::string selector_text(const input& in) {
  std::string t = in.name + "{";
  bool first = true;
  for (const auto& [k, v] : in.label_values) {
    t += (first ? "" : ",") + k + "=\"" + v + "\"";
    first = false;
  }
  return t + "}";
}

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  return (WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok\n" : "FAILED\n") + out;
}

TEST(alert_promtool, prometheus_fires_what_the_engine_fires_when_it_fires_it) {
  constexpr int steps = 24;  // 6 minutes at 15 s
  const std::vector<input> inputs = {
      // down from 0:30 to 2:00, flaps once at 3:00, down again from 4:00
      {"vitals_probe_up", {{"kind", "port"}, {"probe", "api"}},
       {1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}},
      {"vitals_probe_up", {{"kind", "redis"}, {"probe", "cache"}},
       {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
      {"vitals_disk_free_ratio", {{"probe", "data"}},
       {0.5, 0.4, 0.3, 0.25, 0.19, 0.18, 0.17, 0.25, 0.15, 0.15, 0.15, 0.15,
        0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.3, 0.3, 0.3, 0.3}},
      {"vitals_redis_memory_utilization_ratio", {{"limit", "maxmemory"}, {"probe", "cache"}},
       {0.5, 0.6, 0.7, 0.8, 0.95, 0.96, 0.97, 0.98, 0.5, 0.5, 0.96, 0.96,
        0.96, 0.96, 0.96, 0.96, 0.96, 0.96, 0.96, 0.96, 0.96, 0.96, 0.96, 0.96}},
  };
  std::vector<rule> rules = {
      test::make_rule("ProbeDown", "vitals_probe_up == 0", 60s, 0ms, "{{ $labels.probe }} ({{ $labels.kind }}) is down"),
      test::make_rule("DiskLow", "vitals_disk_free_ratio < 0.2", 30s, 45s, "{{ $labels.probe }} at {{ $value }}"),
      test::make_rule("CacheFull", "vitals_redis_memory_utilization_ratio > 0.9 and on(probe) vitals_probe_up == 1", 0ms,
                0ms, "{{ $labels.probe }} full"),
  };

  engine e;
  e.set_rules(rules);
  const auto t0 = wall_clock::time_point{} + std::chrono::hours(24 * 365 * 50);
  // The engine's firing alerts after each step's evaluation.
  std::vector<std::vector<alert_instance>> firing(steps);
  for (int step = 0; step < steps; ++step) {
    std::vector<series> now;
    for (const auto& in : inputs) now.push_back({in.name, in.label_values, in.values[static_cast<std::size_t>(step)]});
    e.evaluate(now, t0 + std::chrono::seconds(15 * step));
    for (const auto& a : e.active())
      if (a.state == alert_state::firing) firing[static_cast<std::size_t>(step)].push_back(a);
  }
  // The scenario must exercise what it claims: each rule fires somewhere.
  for (const auto& r : rules) {
    bool fired = false;
    for (const auto& at : firing)
      for (const auto& a : at) fired = fired || a.rule == r.name;
    EXPECT_TRUE(fired) << r.name << " never fires in the scenario";
  }

  test::temp_dir dir;
  { std::ofstream(dir.path() + "/rules.yml") << prometheus_rule_file(rules); }
  std::ofstream t(dir.path() + "/test.yml");
  t << "rule_files: [rules.yml]\nevaluation_interval: 15s\ntests:\n  - interval: 15s\n    input_series:\n";
  for (const auto& in : inputs) {
    t << "      - series: '" << selector_text(in) << "'\n        values: '";
    for (std::size_t i = 0; i < in.values.size(); ++i) t << (i ? " " : "") << in.values[i];
    t << "'\n";
  }
  t << "    alert_rule_test:\n";
  int checks = 0;
  for (int step = 0; step < steps; ++step) {
    for (const auto& r : rules) {
      t << "      - eval_time: " << 15 * step << "s\n        alertname: " << r.name << "\n        exp_alerts:";
      std::vector<const alert_instance*> mine;
      for (const auto& a : firing[static_cast<std::size_t>(step)])
        if (a.rule == r.name) mine.push_back(&a);
      if (mine.empty()) t << " []";
      t << "\n";
      for (const auto* a : mine) {
        t << "          - exp_labels:\n";
        for (const auto& [k, v] : a->label_values)
          if (k != "alertname") t << "              " << k << ": \"" << v << "\"\n";
        t << "            exp_annotations:\n              summary: \"" << a->summary << "\"\n";
      }
      ++checks;
    }
  }
  t.close();
  EXPECT_EQ(checks, steps * static_cast<int>(rules.size()));

  const auto result = run("cd " + dir.path() + " && promtool test rules test.yml");
  EXPECT_EQ(result.rfind("ok\n", 0), 0u) << "promtool disagrees with the engine:\n" << result;
}

}  // namespace
}  // namespace vitals::alerts
