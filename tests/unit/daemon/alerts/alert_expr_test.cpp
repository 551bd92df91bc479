// The rule language: a PromQL subset evaluated the way Prometheus does.

#include "daemon/alerts/alert_expr.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace vitals::alerts {
namespace {

const std::vector<series> state = {
    {"vitals_probe_up", {{"probe", "api"}, {"kind", "port"}}, 0},
    {"vitals_probe_up", {{"probe", "cache"}, {"kind", "redis"}}, 1},
    {"vitals_probe_up", {{"probe", "db"}, {"kind", "postgres"}}, 0},
    {"vitals_probe_success", {{"probe", "api"}, {"kind", "port"}}, 0},
    {"vitals_probe_success", {{"probe", "db"}, {"kind", "postgres"}}, 1},
    {"vitals_postgres_connections_utilization_ratio", {{"probe", "db"}}, 0.85},
    {"vitals_redis_memory_utilization_ratio", {{"probe", "cache"}, {"limit", "maxmemory"}}, 0.5},
    {"vitals_http_json_value", {{"probe", "h"}, {"field", "errors"}}, std::numeric_limits<double>::quiet_NaN()},
};

std::vector<std::string> probes_of(const std::string& text) {
  auto parsed = parse_expr(text);
  EXPECT_TRUE(parsed.value) << text << ": column " << parsed.error->column << ": " << parsed.error->message;
  std::vector<std::string> out;
  if (!parsed.value) return out;
  for (const auto& s : parsed.value->eval(state))
    out.push_back(s.name + "/" + (s.label_values.count("probe") ? s.label_values.at("probe") : ""));
  return out;
}

parse_error error_of(const std::string& text) {
  auto parsed = parse_expr(text);
  EXPECT_FALSE(parsed.value) << text;
  return parsed.error.value_or(parse_error{});
}

using names = std::vector<std::string>;

TEST(alert_expr, comparison_filters_and_keeps_the_series) {
  EXPECT_EQ(probes_of("vitals_probe_up == 0"), (names{"vitals_probe_up/api", "vitals_probe_up/db"}));
  EXPECT_EQ(probes_of("vitals_postgres_connections_utilization_ratio > 0.8"),
            (names{"vitals_postgres_connections_utilization_ratio/db"}));
  EXPECT_EQ(probes_of("vitals_postgres_connections_utilization_ratio > 0.9"), names{});
  EXPECT_EQ(probes_of("vitals_probe_up"), (names{"vitals_probe_up/api", "vitals_probe_up/cache", "vitals_probe_up/db"}));
}

TEST(alert_expr, label_matchers_are_anchored_and_absent_labels_are_empty) {
  EXPECT_EQ(probes_of(R"(vitals_probe_up{kind="port"} == 0)"), names{"vitals_probe_up/api"});
  EXPECT_EQ(probes_of(R"(vitals_probe_up{kind!="port"} == 0)"), names{"vitals_probe_up/db"});
  EXPECT_EQ(probes_of(R"(vitals_probe_up{kind=~"port|postgres"} == 0)"),
            (names{"vitals_probe_up/api", "vitals_probe_up/db"}));
  EXPECT_EQ(probes_of(R"(vitals_probe_up{kind=~"post"})"), names{});  // anchored: "post" is not "postgres"
  EXPECT_EQ(probes_of(R"(vitals_probe_up{kind!~"p.*"})"), names{"vitals_probe_up/cache"});
  EXPECT_EQ(probes_of(R"(vitals_probe_up{missing=""})").size(), 3u);
  EXPECT_EQ(probes_of(R"(vitals_probe_up{probe='api', kind="port",})"), names{"vitals_probe_up/api"});
}

TEST(alert_expr, set_operations_match_labels_without_the_metric_name) {
  // Down after thresholds, and the last run failed too.
  EXPECT_EQ(probes_of("vitals_probe_up == 0 and vitals_probe_success == 0"), names{"vitals_probe_up/api"});
  EXPECT_EQ(probes_of("vitals_probe_up == 0 unless vitals_probe_success == 0"), names{"vitals_probe_up/db"});
  EXPECT_EQ(probes_of("vitals_probe_success == 1 or vitals_probe_up == 0"),
            (names{"vitals_probe_success/db", "vitals_probe_up/api"}));  // db's up series matches db's success
}

TEST(alert_expr, on_and_ignoring_choose_the_labels_that_match) {
  // The ratio carries `limit`, the up series `kind`: only `probe` is common.
  EXPECT_EQ(probes_of("vitals_redis_memory_utilization_ratio > 0.4 and vitals_probe_up == 1"), names{});
  EXPECT_EQ(probes_of("vitals_redis_memory_utilization_ratio > 0.4 and on(probe) vitals_probe_up == 1"),
            names{"vitals_redis_memory_utilization_ratio/cache"});
  EXPECT_EQ(probes_of("vitals_probe_up == 0 unless ignoring(kind) vitals_postgres_connections_utilization_ratio"),
            names{"vitals_probe_up/api"});
  auto e = error_of("vitals_probe_up and on probe vitals_probe_success");
  EXPECT_EQ(e.column, 24u);
}

TEST(alert_expr, and_binds_tighter_than_or_and_parentheses_change_it) {
  const std::string loose = "vitals_probe_up == 1 or vitals_probe_up == 0 and vitals_probe_success == 0";
  EXPECT_EQ(probes_of(loose), (names{"vitals_probe_up/cache", "vitals_probe_up/api"}));
  const std::string grouped = "(vitals_probe_up == 1 or vitals_probe_up == 0) and vitals_probe_success == 0";
  EXPECT_EQ(probes_of(grouped), names{"vitals_probe_up/api"});
}

TEST(alert_expr, nan_compares_like_prometheus) {
  EXPECT_EQ(probes_of("vitals_http_json_value > 0"), names{});
  EXPECT_EQ(probes_of("vitals_http_json_value == NaN"), names{});
  EXPECT_EQ(probes_of("vitals_http_json_value != 0"), names{"vitals_http_json_value/h"});
}

TEST(alert_expr, text_is_canonical_and_parses_back_to_itself) {
  for (const std::string text : {"vitals_probe_up == 0", R"(vitals_probe_up{kind=~"port|http", probe!="x"} >= 0.5)",
                                 "(vitals_probe_up == 0 or vitals_probe_success == 0) and vitals_probe_up{kind=\"port\"}",
                                 "vitals_redis_memory_utilization_ratio > 0.9 unless vitals_probe_up == 0",
                                 "vitals_disk_free_ratio < 0.2", "vitals_probe_up > -Inf",
                                 "vitals_probe_up == 0 and on(probe, kind) vitals_probe_success == 0",
                                 "(vitals_probe_up == 0 or vitals_probe_success == 0) == 0 or vitals_disk_free_ratio",
                                 "(vitals_probe_up > 0) < 5"}) {
    auto first = parse_expr(text);
    ASSERT_TRUE(first.value) << text;
    EXPECT_EQ(first.value->text(), text);
    auto again = parse_expr(first.value->text());
    ASSERT_TRUE(again.value);
    EXPECT_EQ(again.value->text(), first.value->text());
  }
}

TEST(alert_expr, names_every_metric_it_selects) {
  auto parsed = parse_expr("vitals_probe_up == 0 and (vitals_probe_success == 0 or vitals_probe_up{kind=\"x\"})");
  ASSERT_TRUE(parsed.value);
  std::set<std::string> found;
  parsed.value->metric_names(found);
  EXPECT_EQ(found, (std::set<std::string>{"vitals_probe_up", "vitals_probe_success"}));
}

TEST(alert_expr, errors_point_at_the_column) {
  auto e = error_of("vitals_probe_up = 0");
  EXPECT_EQ(e.column, 17u);
  EXPECT_EQ(e.message, "use == to compare (= is for label matchers)");

  e = error_of(R"(vitals_probe_up{probe="x" > 1)");
  EXPECT_EQ(e.column, 27u);
  EXPECT_EQ(e.message, "expected \",\" or \"}\", got \">\"");

  e = error_of("rat(vitals_probe_runs_total[5m]) > 1");
  EXPECT_EQ(e.column, 1u);
  EXPECT_EQ(e.message, "unknown function \"rat\"; did you mean rate?");

  e = error_of("rate(vitals_probe_runs_total) > 1");
  EXPECT_EQ(e.column, 6u);
  EXPECT_EQ(e.message,
            "expected type range vector in call to function \"rate\", got instant vector (add a range: "
            "rate(vitals_probe_runs_total[5m]))");

  e = error_of(R"(vitals_probe_up{probe="api)");
  EXPECT_EQ(e.column, 23u);
  EXPECT_EQ(e.message, "string not closed");

  e = error_of("vitals_probe_up == 0 vitals_probe_success");
  EXPECT_EQ(e.column, 22u);

  e = error_of("vitals_probe_up > 1 > 2 > bool");
  EXPECT_EQ(e.column, 31u);
  EXPECT_EQ(e.message, "expected an expression, got end of expression");

  e = error_of("vitals_probe_up > 1 and 1");
  EXPECT_EQ(e.column, 21u);
  EXPECT_EQ(e.message, "set operator \"and\" not allowed in binary scalar expression");

  e = error_of(R"(vitals_probe_up{kind=~"(port"})");
  EXPECT_EQ(e.column, 23u);

  e = error_of("(vitals_probe_up == 0");
  EXPECT_EQ(e.column, 22u);

  e = error_of("vitals_probe_up == 0 and");
  EXPECT_EQ(e.message, "expected an expression, got end of expression");

  e = error_of("vitals_probe_up + bool 1");
  EXPECT_EQ(e.column, 19u);
  EXPECT_EQ(e.message, "bool modifier can only be used on comparison operators");

  e = error_of("1 > 2");
  EXPECT_EQ(e.message, "comparisons between scalars must use BOOL modifier");

  e = error_of("vitals_probe_up[5m]");
  EXPECT_EQ(e.column, 1u);
  EXPECT_NE(e.message.find("not a range vector"), std::string::npos);

  e = error_of("vitals_probe_up[5x]");
  EXPECT_EQ(e.column, 17u);
}

}  // namespace
}  // namespace vitals::alerts

namespace vitals::alerts {
namespace {

// Hostile rules: each crashed the parser or the evaluator with a stack
// overflow before they were bounded.
TEST(alert_expr_limits, ten_thousand_nested_parentheses_are_an_error_at_the_first_too_deep) {
  const std::string text = std::string(10000, '(') + "vitals_probe_up" + std::string(10000, ')') + " == 0";
  const auto e = error_of(text);
  EXPECT_EQ(e.column, 65u);
  EXPECT_EQ(e.message, "expressions nested deeper than 64 levels");
}

TEST(alert_expr_limits, fifty_thousand_terms_joined_by_and_are_an_error) {
  std::string text = "vitals_probe_up == 0";
  for (int i = 1; i < 50000; ++i) text += " and vitals_probe_up == 0";
  EXPECT_EQ(error_of(text).message, "the expression has more than 256 operators; split it into several rules");
}

TEST(alert_expr_limits, a_long_rule_within_the_limits_still_parses_and_evaluates) {
  std::string text = "(vitals_probe_up == 0";
  for (int i = 1; i < 100; ++i) text += " or vitals_probe_up == 0";
  text += ")";
  const auto parsed = parse_expr(std::string(60, '(') + text + std::string(60, ')'));
  ASSERT_TRUE(parsed.value) << parsed.error->message;
  EXPECT_EQ(parsed.value->eval({{"vitals_probe_up", {{"probe", "a"}}, 0}}).size(), 1u);
}

TEST(alert_expr_limits, a_pathological_label_regex_on_a_long_value_is_linear) {
  const auto parsed = parse_expr("vitals_probe_up{probe=~\"(a+)+b\"} == 0");
  ASSERT_TRUE(parsed.value);
  EXPECT_TRUE(parsed.value->eval({{"vitals_probe_up", {{"probe", std::string(1 << 16, 'a')}}, 0}}).empty());
}

TEST(alert_expr_limits, a_regex_with_backtracking_only_syntax_is_refused_with_the_reason) {
  const auto e = error_of("vitals_probe_up{probe=~\"(?=a)\"}");
  EXPECT_NE(e.message.find("invalid regular expression"), std::string::npos) << e.message;
}

}  // namespace
}  // namespace vitals::alerts
