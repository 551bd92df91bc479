// A label matcher's regular expression matches the same values in the
// daemon's engine as in Prometheus: one rule per expression over one series
// per value, the engine's firing alerts written as a `promtool test rules`
// suite (the rules as `vitalsd rules` prints them), and Prometheus's own
// promtool must agree with every one. A suite that leaves out one match
// must fail, so agreement is not vacuous.

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/alerts/alert_rules.hpp"

#include "support/alert_rule.hpp"
#include "support/shell_command.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace vitals::alerts {
namespace {

using namespace std::chrono_literals;

// Expressions whose meaning differs between engines that look alike:
// newlines and `.`, anchors, case folding beyond ASCII, Perl and POSIX
// classes, Unicode classes, \Q…\E, repeated group names, laziness.
const std::vector<std::string> expressions = {
    ".*", ".+", "a.b", "(?s)a.b", "a|ab", "ab|a", "(?i)abc", "(?i)é", "(?i)k", "(?i)ſ", "\\d+", "\\w+", "\\s",
    "\\S+", "[[:alpha:]]+", "[[:^alpha:]]", "\\pL+", "\\p{Greek}+", "\\PL", "^a$", "a$", "(?m)a$", "(?m)^b", "a\\z",
    "\\Aab", "\\bab\\b", "\\Qa.b\\E", "(?P<x>a)(?P<x>b)", "(?U)a+", "(?U)a+?", "[^a]", "", "(api|web)-\\d+",
    "\\x{65e5}\\x{672c}", "a\\\\b", "a\"b", ".", "...", "\\n", "(?s).*", "x*", "é|e", "[\\x{1F600}-\\x{1F64F}]",
    "a\\.b", "\\t", "[\\d\\s]+", "(?i)ǅ", "(?i)straße", "\\101", "\\x41", "[[:word:]]+", "a{2}", "a{0,1}b", "\\p{Lu}",
    "(?i)K", "a\\b",
};

// Values chosen to tell those apart. Not "": Prometheus drops a label
// whose value is empty.
const std::vector<std::string> values = {
    "a",     "ab",    "abc",   "ABC",  "a\nb",  "b\na",   "a\n",         "\na",  "axb", "A",
    "aa",    "é",     "É",     "ſ",     "s",    "S",     "k",      "K",           "\u212A", "日本", "🙂",
    "a.b",   "a\\b",  "a\"b",  "x y",   "\t",   "123",   "api-12", "web-7",       "api-", "α",   "αβγ",
    "Ǆ",     "ǆ",     "ǅ",     "STRASSE", "straße", "x",  "xxx",   "a b",         "\n",   "ab ab", "_",
};

// A YAML double-quoted scalar holding `s` exactly.
std::string yaml_quoted(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// A PromQL string literal holding `s` (for the input series' labels).
std::string promql_quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\t') {
      out += "\\t";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// Rule R<i> is `vitals_probe_up{v=~expressions[i]} == 1`.
std::vector<rule> rules_for(const std::vector<std::string>& exprs) {
  std::vector<rule> rules;
  for (std::size_t i = 0; i < exprs.size(); ++i)
    rules.push_back(test::make_rule("R" + std::to_string(i), "vitals_probe_up{v=~" + promql_quoted(exprs[i]) + "} == 1",
                                    0ms, 0ms, "matched"));
  return rules;
}

// The suite: every value as a series, and for every rule the values its
// alert fires for; `leave_out` drops one (rule, value) to make it wrong.
std::string suite_text(const std::vector<rule>& rules, const std::vector<alert_instance>& firing,
                       std::optional<std::pair<std::string, std::string>> leave_out = std::nullopt) {
  std::ostringstream t;
  t << "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n";
  for (const auto& v : values)
    t << "      - series: " << yaml_quoted("vitals_probe_up{v=" + promql_quoted(v) + "}") << "\n        values: '1 1'\n";
  t << "    alert_rule_test:\n";
  for (const auto& r : rules) {
    t << "      - eval_time: 1m\n        alertname: " << r.name << "\n        exp_alerts:";
    std::ostringstream alerts;
    for (const auto& a : firing) {
      if (a.rule != r.name || leave_out == std::pair{r.name, a.label_values.at("v")}) continue;
      alerts << "\n          - exp_labels:";
      for (const auto& [k, v] : a.label_values)
        if (k != "alertname") alerts << "\n              " << k << ": " << yaml_quoted(v);
      alerts << "\n            exp_annotations: {summary: matched}";
    }
    t << (alerts.str().empty() ? " []" : alerts.str()) << "\n";
  }
  return t.str();
}

TEST(regex_promtool, every_expression_matches_the_same_values_as_in_prometheus) {
  const auto rules = rules_for(expressions);
  engine e;
  e.set_rules(rules);
  std::vector<series> all;
  for (const auto& v : values) all.push_back({"vitals_probe_up", {{"v", v}}, 1});
  const auto t0 = wall_clock::time_point{} + std::chrono::hours(24 * 365 * 50);
  e.evaluate(all, t0);
  e.evaluate(all, t0 + 1min);
  std::vector<alert_instance> firing;
  for (const auto& a : e.active())
    if (a.state == alert_state::firing) firing.push_back(a);
  // Not vacuous: most expressions match something, and some not everything.
  ASSERT_GT(firing.size(), expressions.size());
  ASSERT_LT(firing.size(), expressions.size() * values.size());

  test::temp_dir dir;
  { std::ofstream(dir.path() + "/rules.yml") << prometheus_rule_file(rules); }
  { std::ofstream(dir.path() + "/test.yml") << suite_text(rules, firing); }
  const auto result = test::run_shell("cd " + dir.path() + " && promtool test rules test.yml");
  EXPECT_EQ(result.rfind("ok\n", 0), 0u) << "promtool and the engine match different values:\n" << result;

  // promtool really compares: one match left out must fail the suite.
  { std::ofstream(dir.path() + "/wrong.yml") << suite_text(rules, firing, std::pair{firing[0].rule, firing[0].label_values.at("v")}); }
  const auto wrong = test::run_shell("cd " + dir.path() + " && promtool test rules wrong.yml");
  EXPECT_EQ(wrong.rfind("FAILED\n", 0), 0u) << "promtool accepts a suite missing a match:\n" << wrong;
}

}  // namespace
}  // namespace vitals::alerts
