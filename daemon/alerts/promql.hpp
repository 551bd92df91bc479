#pragma once

// The parsed form of a rule expression (alert_expr.cpp parses and prints
// it, promql_eval.cpp evaluates it). Internal to the alerts library.

#include "daemon/alerts/alert_series.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vitals::alerts::promql {

enum class type { scalar, vector, matrix };
std::string_view type_name(type t);

enum class binop { add, sub, mul, div, mod, pow, eq, ne, gt, lt, ge, le, and_, or_, unless };
bool is_comparison(binop op);
bool is_set_operator(binop op);
std::string_view binop_text(binop op);

enum class aggregation { sum, min, max, avg, count, group, topk, bottomk };

struct function_info;

// `on(…)`/`ignoring(…)` and `group_left(…)`/`group_right(…)` of a binary
// operation between two vectors.
struct vector_matching {
  enum class card { one_to_one, many_to_one, one_to_many, many_to_many } cardinality = card::one_to_one;
  bool on = false;          // on(labels); otherwise ignoring(labels) (none: match on every label)
  bool written = false;     // on(…) or ignoring(…) was written
  std::vector<std::string> labels;
  std::vector<std::string> include;  // group_left(include…) / group_right(include…)
};

struct node {
  enum class kind { number, selector, matrix, call, aggregate, binary, unary, paren } what = kind::number;
  type result = type::scalar;
  std::size_t column = 1;  // where it starts in the text, 1-based

  double number = 0;                 // number
  std::string number_text;           // number, as written
  // selector and matrix (a selector with a range)
  std::shared_ptr<selector_spec> selector;
  std::int64_t offset_ms = 0;
  std::int64_t range_ms = 0;         // matrix
  const function_info* function = nullptr;  // call
  aggregation aggregate_op = aggregation::sum;
  bool without = false;              // aggregate: without(…) rather than by(…)
  bool grouping_written = false;
  std::vector<std::string> grouping;
  binop op = binop::add;             // binary
  bool return_bool = false;
  vector_matching matching;
  bool negate = false;               // unary: "-" (else "+")
  // call: the arguments; aggregate: [param,] expression; binary: lhs, rhs;
  // unary and paren: the operand.
  std::vector<std::unique_ptr<node>> args;
};

struct function_info {
  std::string_view name;
  std::vector<type> args;   // in order
  std::size_t optional = 0; // how many of the last args may be left out
  type result = type::vector;
};
const std::vector<function_info>& functions();
const function_info* find_function(std::string_view name);

// What evaluating at one time reads.
struct eval_context {
  const series_table& now;
  const history* past = nullptr;  // null: range selectors and offsets see nothing
  std::int64_t at_ms = 0;
};

// A failed evaluation (what Prometheus calls an execution error: e.g. two
// series with the same labels after the metric name was dropped).
struct eval_failure {
  std::string message;
};

// The value of a scalar or instant-vector node. Throws eval_failure.
double eval_scalar(const node& n, const eval_context& ctx);
std::vector<sample> eval_vector(const node& n, const eval_context& ctx);

}  // namespace vitals::alerts::promql
