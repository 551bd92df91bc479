#pragma once

// Rule expressions: the part of PromQL that alerting uses, with
// Prometheus 2.42's meaning (DESIGN §6, docs/alerts.md).
//
//   vitals_probe_up{kind=~"port|http"} == 0
//   vitals_http_json_value{field="errors"} / ignoring(field) vitals_http_json_value{field="requests"} > 0.05
//   sum by (probe) (rate(vitals_log_matches_total{pattern="error"}[5m])) * 60 > 10
//   predict_linear(vitals_redis_used_memory_bytes[30m], 3600) > vitals_redis_maxmemory_bytes
//
// Numbers (Inf, NaN), selectors with label matchers, range selectors and
// `offset`; arithmetic + - * / % ^ and comparisons (with `bool`) between
// scalars and vectors, with on()/ignoring() and group_left()/group_right();
// and/or/unless; sum, min, max, avg, count, group, topk, bottomk with
// by/without; the functions listed by promql::functions() (rate, increase,
// irate, delta, idelta, deriv, predict_linear, *_over_time, changes,
// resets, absent, absent_over_time, abs, ceil, floor, sqrt, round, clamp,
// clamp_min, clamp_max, time, vector, scalar, histogram_quantile).
//
// A rule is evaluated over what /metrics shows now (a series_table) and,
// for range selectors and offsets, the samples earlier evaluations saw (a
// history): as if Prometheus scraped the daemon at each evaluation.

#include "daemon/alerts/alert_series.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vitals::alerts {

using labels = std::map<std::string, std::string>;

// One sample of a rule's input or result: what /metrics would show.
struct series {
  std::string name;     // "" once an operation dropped it
  labels label_values;  // without the metric name
  double value = 0;
};

// Where and why a rule expression does not parse. `column` is 1-based.
struct parse_error {
  std::size_t column = 0;
  std::string message;
};

struct eval_result {
  std::vector<series> matches;        // a scalar result is one series without labels
  std::optional<std::string> error;   // the evaluation failed (matches empty)
  // A range selector or offset read a history that left out series for
  // lack of room (alerts.max_history_series): the result may be incomplete.
  bool history_incomplete = false;
};

class expr {
public:
  virtual ~expr() = default;
  // The expression's value at `at_ms` (Unix milliseconds) over the current
  // samples `now`; range selectors and offsets read `past` (none when null).
  virtual eval_result evaluate(const series_table& now, const history* past, std::int64_t at_ms) const = 0;
  // The matches over `all`, without history, at time 0; none when the
  // evaluation fails.
  std::vector<series> eval(const std::vector<series>& all) const;
  // Every metric name a selector in the expression names.
  virtual void metric_names(std::set<std::string>& out) const = 0;
  // What the history must keep for it: its range selectors and offsets.
  // The selectors live as long as the expression.
  virtual void history_needs(std::vector<history_need>& out) const = 0;
  // The expression in canonical PromQL, as a rule file would carry it.
  virtual std::string text() const = 0;
};

struct parse_result {
  std::unique_ptr<expr> value;        // set on success
  std::optional<parse_error> error;   // set on failure
};

parse_result parse_expr(std::string_view text);

// A number as rules and templates print it: the shortest text that reads
// back as the same double; NaN, +Inf, -Inf as Prometheus spells them.
std::string number_text(double v);

// A duration as PromQL writes it: "5m", "1h30m", "250ms".
std::string duration_text(std::int64_t ms);

}  // namespace vitals::alerts
