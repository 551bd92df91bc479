// The same rules, fed the same series, fire the same alerts at the same
// times in the daemon's engine and in Prometheus: the engine's answers are
// written as a `promtool test rules` suite, and Prometheus's own promtool
// must agree with every one of them. The suite is read back to prove what
// it asks (every rule at every step, both firing and inactive), and a suite
// that leaves out one firing alert must fail, so agreement is not vacuous.

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/alerts/alert_rules.hpp"

#include "support/alert_rule.hpp"
#include "support/promtool_series.hpp"
#include "support/shell_command.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
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

std::string selector_text(const input& in) { return test::promtool_series(in.name, in.label_values); }

// The engine's firing alerts after each 15 s step's evaluation.
using firing_by_step = std::vector<std::vector<alert_instance>>;

// The engine's answers as a `promtool test rules` suite: for every step and
// every rule, the alerts the engine had firing then (`exp_alerts: []` when
// none). `claim_inactive`, when set, is a (rule, step) written as `[]`
// whatever the engine fired: a deliberately wrong suite.
std::string suite_text(const std::vector<input>& inputs, const std::vector<rule>& rules, const firing_by_step& firing,
                       std::optional<std::pair<std::string, std::size_t>> claim_inactive = std::nullopt) {
  std::ostringstream t;
  t << "rule_files: [rules.yml]\nevaluation_interval: 15s\ntests:\n  - interval: 15s\n    input_series:\n";
  for (const auto& in : inputs) {
    t << "      - series: '" << selector_text(in) << "'\n        values: '";
    for (std::size_t i = 0; i < in.values.size(); ++i) t << (i ? " " : "") << in.values[i];
    t << "'\n";
  }
  t << "    alert_rule_test:\n";
  for (std::size_t step = 0; step < firing.size(); ++step) {
    for (const auto& r : rules) {
      t << "      - eval_time: " << 15 * step << "s\n        alertname: " << r.name << "\n        exp_alerts:";
      std::vector<const alert_instance*> mine;
      if (claim_inactive != std::pair{r.name, step})
        for (const auto& a : firing[step])
          if (a.rule == r.name) mine.push_back(&a);
      if (mine.empty()) t << " []";
      t << "\n";
      for (const auto* a : mine) {
        t << "          - exp_labels:\n";
        for (const auto& [k, v] : a->label_values)
          if (k != "alertname") t << "              " << k << ": \"" << v << "\"\n";
        t << "            exp_annotations:\n              summary: \"" << a->summary << "\"\n";
      }
    }
  }
  return t.str();
}

// One alert_rule_test entry as it reads in a written suite.
struct suite_check {
  std::string eval_time;
  std::string alertname;
  std::size_t expected_alerts = 0;  // exp_labels entries; 0 for `exp_alerts: []`
};

// The alert_rule_test entries of a suite file, read back from the text
// promtool reads (not from what the writer meant to write).
std::vector<suite_check> read_suite(const std::string& path) {
  std::ifstream in(path);
  std::vector<suite_check> out;
  // The rest of a line that starts (after its indentation) with `key`.
  const auto value_after = [](const std::string& line, std::string_view key) -> std::optional<std::string> {
    const auto text = line.substr(std::min(line.find_first_not_of(' '), line.size()));
    if (!text.starts_with(key)) return std::nullopt;
    return text.substr(key.size());
  };
  for (std::string line; std::getline(in, line);) {
    if (auto v = value_after(line, "- eval_time: ")) {
      out.push_back({*v, "", 0});
    } else if (out.empty()) {
      continue;  // input_series
    } else if (auto name = value_after(line, "alertname: ")) {
      out.back().alertname = *name;
    } else if (value_after(line, "- exp_labels:")) {
      ++out.back().expected_alerts;
    }
  }
  return out;
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
  { std::ofstream(dir.path() + "/test.yml") << suite_text(inputs, rules, firing); }

  // What promtool is asked, read back from the file: every rule at every
  // step, as many alerts expected as the engine had firing, and each rule
  // checked both while firing and while inactive.
  const auto checks = read_suite(dir.path() + "/test.yml");
  std::set<std::pair<std::string, std::string>> asked;  // (eval_time, alertname)
  std::map<std::string, std::pair<int, int>> states;   // alertname -> (firing checks, inactive checks)
  std::size_t expected_alerts = 0;
  for (const auto& c : checks) {
    asked.insert({c.eval_time, c.alertname});
    ++(c.expected_alerts ? states[c.alertname].first : states[c.alertname].second);
    expected_alerts += c.expected_alerts;
  }
  std::size_t engine_alerts = 0;
  for (const auto& at : firing) engine_alerts += at.size();
  EXPECT_EQ(checks.size(), asked.size()) << "a (step, rule) is checked twice";
  for (int step = 0; step < steps; ++step)
    for (const auto& r : rules)
      EXPECT_TRUE(asked.contains({std::to_string(15 * step) + "s", r.name})) << r.name << " at step " << step;
  EXPECT_EQ(expected_alerts, engine_alerts);
  for (const auto& r : rules) {
    EXPECT_GT(states[r.name].first, 0) << "promtool never checks " << r.name << " firing";
    EXPECT_GT(states[r.name].second, 0) << "promtool never checks " << r.name << " inactive";
  }

  const auto result = test::run_shell("cd " + dir.path() + " && promtool test rules test.yml");
  EXPECT_EQ(result.rfind("ok\n", 0), 0u) << "promtool disagrees with the engine:\n" << result;

  // promtool really compares: claiming a rule inactive at the first step
  // the engine fires it must fail the suite, for every rule.
  for (const auto& r : rules) {
    const auto fires = [&](const std::vector<alert_instance>& at) {
      return std::any_of(at.begin(), at.end(), [&](const alert_instance& a) { return a.rule == r.name; });
    };
    std::size_t first = 0;
    while (first < firing.size() && !fires(firing[first])) ++first;
    ASSERT_LT(first, firing.size()) << r.name;
    { std::ofstream(dir.path() + "/wrong.yml") << suite_text(inputs, rules, firing, std::pair{r.name, first}); }
    const auto wrong = test::run_shell("cd " + dir.path() + " && promtool test rules wrong.yml");
    EXPECT_EQ(wrong.rfind("FAILED\n", 0), 0u) << "promtool accepts " << r.name << " missing at step " << first << ":\n"
                                              << wrong;
  }
}

}  // namespace
}  // namespace vitals::alerts
