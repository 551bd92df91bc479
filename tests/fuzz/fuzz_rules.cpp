// The rule language: parse, evaluate against a fixed state, print.
//
// Promises checked beyond "no crash": a failed parse says where (a column
// within the text, or just past its end) and why; a parsed rule's text()
// parses again, prints the same, and selects the same series. Rules are
// also evaluated over a short history (ranges, offsets, a series cap).

#include "fuzz_input.hpp"

#include "daemon/alerts/alert_expr.hpp"

#include <limits>
#include <set>
#include <string>
#include <vector>

namespace {

using vitals::alerts::series;

// A small state with the shapes rules meet: shared and distinct labels,
// several metrics, NaN and infinities, an empty label value.
const std::vector<series>& state() {
  static const std::vector<series> all = {
      {"vitals_probe_up", {{"probe", "api"}, {"kind", "port"}}, 0},
      {"vitals_probe_up", {{"probe", "cache"}, {"kind", "redis"}}, 1},
      {"vitals_probe_up", {{"probe", "db"}, {"kind", "postgres"}}, 0},
      {"vitals_probe_success", {{"probe", "api"}, {"kind", "port"}}, 0},
      {"vitals_probe_success", {{"probe", "db"}, {"kind", "postgres"}}, 1},
      {"vitals_postgres_connections_utilization_ratio", {{"probe", "db"}}, 0.85},
      {"vitals_redis_memory_utilization_ratio", {{"probe", "cache"}, {"limit", "maxmemory"}}, 0.5},
      {"vitals_http_json_value", {{"probe", "h"}, {"field", "errors"}}, std::numeric_limits<double>::quiet_NaN()},
      {"vitals_disk_free_ratio", {{"probe", "root"}, {"path", "/"}}, std::numeric_limits<double>::infinity()},
      {"vitals_disk_free_ratio", {{"probe", ""}, {"path", "/var"}}, -std::numeric_limits<double>::infinity()},
      {"a", {}, -0.0},
  };
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using vitals::fuzz::require;
  const auto text = vitals::fuzz::as_text(data, size);
  const auto parsed = vitals::alerts::parse_expr(text);
  if (!parsed.value) {
    require(parsed.error.has_value(), "a failed parse has no error");
    require(parsed.error->column >= 1 && parsed.error->column <= text.size() + 1,
            "a parse error's column is outside the expression");
    require(!parsed.error->message.empty(), "a parse error has no message");
    return 0;
  }
  const auto selected = parsed.value->eval(state());
  // The same over a history of three evaluations, for ranges and offsets,
  // with caps small enough to be reached.
  vitals::alerts::series_table table;
  for (const auto& s : state()) table.add(s.name, s.label_values, s.value);
  std::vector<vitals::alerts::history_need> needs;
  parsed.value->history_needs(needs);
  vitals::alerts::history past(4, 64);
  past.require(needs, 15000);
  for (std::int64_t at : {0, 15000, 30000}) past.record(table, at);
  const auto over_time = parsed.value->evaluate(table, &past, 30000);
  require(!over_time.error || over_time.matches.empty(), "a failed evaluation returned series");
  std::set<std::string> names;
  parsed.value->metric_names(names);
  const std::string canonical = parsed.value->text();

  const auto again = vitals::alerts::parse_expr(canonical);
  require(again.value != nullptr, "the text() of a parsed rule does not parse");
  require(again.value->text() == canonical, "the text() of a parsed rule is not stable when parsed again");
  require(again.value->eval(state()).size() == selected.size(),
          "the text() of a parsed rule selects other series than the rule");
  return 0;
}
