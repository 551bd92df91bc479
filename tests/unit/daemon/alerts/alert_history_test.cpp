// The history range selectors and offsets read: what it keeps, for how
// long, and what its caps leave out (and say so).

#include "daemon/alerts/alert_expr.hpp"
#include "daemon/alerts/alert_series.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vitals::alerts {
namespace {

// A parsed expression and what its ranges need.
struct rule_text {
  std::unique_ptr<expr> e;
  std::vector<history_need> needs;
  explicit rule_text(const std::string& text) : e(parse_expr(text).value) {
    EXPECT_TRUE(e) << text;
    e->history_needs(needs);
  }
};

series_table table_of(const std::map<std::string, double>& probes, const std::string& metric = "m") {
  series_table t;
  for (const auto& [probe, v] : probes) t.add(metric, std::map<std::string, std::string>{{"probe", probe}}, v);
  return t;
}

constexpr std::int64_t step = 5000;

TEST(alert_history, a_series_keeps_only_as_far_back_as_the_rules_that_match_it_reach) {
  rule_text short_range("max_over_time(m{probe=\"a\"}[1m])");
  rule_text long_range("max_over_time(m{probe=\"b\"}[1h])");
  auto needs = short_range.needs;
  needs.insert(needs.end(), long_range.needs.begin(), long_range.needs.end());
  history h(100, 1'000'000);
  h.require(needs, step);
  for (int i = 0; i < 200; ++i) h.record(table_of({{"a", i}, {"b", i}, {"c", i}}), i * step);
  EXPECT_EQ(h.series(), 2u);  // c is read by no range
  // a: 1m + one interval = 13 evaluations (and the one being recorded); b: all 200
  EXPECT_EQ(h.samples(), 14u + 200u);
  const auto r = short_range.e->evaluate(table_of({{"a", 199}}), &h, 199 * step);
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].value, 199);
}

TEST(alert_history, a_series_that_left_is_stale_at_once_and_forgotten_after_its_window) {
  rule_text rule("count_over_time(m[1m])");
  history h(100, 1'000'000);
  h.require(rule.needs, step);
  for (int i = 0; i < 5; ++i) h.record(table_of({{"a", 1}, {"b", 2}}), i * step);
  h.record(table_of({{"a", 1}}), 5 * step);  // b leaves
  auto r = rule.e->evaluate(table_of({{"a", 1}}), &h, 5 * step);
  ASSERT_EQ(r.matches.size(), 2u);  // b's five samples are still in the window
  rule_text instant("m offset 5s");
  // b's latest sample at 25 s is a stale marker: an offset lookup finds nothing newer for it.
  history h2(100, 1'000'000);
  h2.require(instant.needs, step);
  for (int i = 0; i < 5; ++i) h2.record(table_of({{"a", 1}, {"b", 2}}), i * step);
  h2.record(table_of({{"a", 1}}), 5 * step);
  h2.record(table_of({{"a", 1}}), 6 * step);
  EXPECT_EQ(instant.e->evaluate(table_of({{"a", 1}}), &h2, 6 * step).matches.size(), 1u);
  for (int i = 6; i < 30; ++i) h.record(table_of({{"a", 1}}), i * step);
  EXPECT_EQ(h.series(), 1u);
  EXPECT_EQ(h.samples(), 14u);
}

TEST(alert_history, the_series_cap_leaves_series_out_and_marks_the_rules_that_read_them) {
  rule_text rule("rate(m[5m])");
  history h(2, 1'000'000);
  h.require(rule.needs, step);
  h.record(table_of({{"a", 1}, {"b", 1}, {"c", 1}}), 0);
  EXPECT_EQ(h.series(), 2u);
  EXPECT_EQ(h.dropped(), 1u);
  EXPECT_TRUE(rule.e->evaluate(table_of({{"a", 1}, {"b", 1}, {"c", 1}}), &h, 0).history_incomplete);
  // Room again once a series left and its window passed.
  for (int i = 1; i < 100; ++i) h.record(table_of({{"a", 1}}), i * step);
  h.record(table_of({{"a", 1}, {"c", 1}}), 100 * step);
  EXPECT_EQ(h.dropped(), 0u);
  EXPECT_FALSE(rule.e->evaluate(table_of({{"a", 1}, {"c", 1}}), &h, 100 * step).history_incomplete);
}

TEST(alert_history, the_samples_cap_counts_what_a_series_window_will_hold) {
  rule_text rule("rate(m[1m])");
  history h(100, 30);  // 14 samples per series once its window is full: two fit, not three
  h.require(rule.needs, step);
  for (int i = 0; i < 20; ++i) h.record(table_of({{"a", i}, {"b", i}, {"c", i}}), i * step);
  EXPECT_EQ(h.series(), 2u);
  EXPECT_EQ(h.dropped(), 1u);
  EXPECT_LE(h.samples(), 30u);
  EXPECT_TRUE(h.truncated(rule.needs[0].selector));
}

TEST(alert_history, without_history_ranges_see_nothing_and_absent_over_time_says_so) {
  rule_text rule("absent_over_time(m{probe=\"a\"}[5m])");
  const auto r = rule.e->evaluate(table_of({{"a", 1}}), nullptr, 0);
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].label_values.at("probe"), "a");
}

}  // namespace
}  // namespace vitals::alerts
