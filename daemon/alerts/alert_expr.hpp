#pragma once

// The PromQL subset of alert rules (DESIGN §6): a selector with label
// matchers, compared to a number, combined with `and`, `or` and `unless`
// (optionally `on(labels)` or `ignoring(labels)`), with parentheses:
//
//   vitals_probe_up{kind=~"port|http"} == 0
//   vitals_postgres_connections_utilization_ratio > 0.8 and vitals_probe_up == 1
//
// Evaluation follows Prometheus: a comparison filters series and keeps
// their values and labels (metric name included); `and`/`or`/`unless`
// match series on their labels without the metric name. So a rule means
// the same here and in a Prometheus rule file.

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vitals::alerts {

using labels = std::map<std::string, std::string>;

// One sample of the current state: what /metrics would show.
struct series {
  std::string name;
  labels label_values;  // without the metric name
  double value = 0;
};

// Where and why a rule expression does not parse. `column` is 1-based.
struct parse_error {
  std::size_t column = 0;
  std::string message;
};

class expr {
public:
  virtual ~expr() = default;
  // The series the expression selects now, given every series there is.
  virtual std::vector<series> eval(const std::vector<series>& all) const = 0;
  // Every metric name a selector in the expression names.
  virtual void metric_names(std::set<std::string>& out) const = 0;
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

}  // namespace vitals::alerts
