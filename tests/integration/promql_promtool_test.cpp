// Every rule expression means the same in the daemon's engine as in
// Prometheus: a scenario of input series over 30 minutes (counters that
// reset, series that appear, vanish and come back, NaN and infinities,
// histogram buckets) and a large generated set of expressions (each
// operator with each kind of operand and matching, each aggregation, each
// function, offsets and windows) are evaluated by the engine every minute,
// and the engine's answers are written as a `promtool test rules` suite.
// Prometheus's promtool must agree with each one: the same label sets and
// the same values (within a relative 1e-9; NaN agrees with NaN), and an
// evaluation error where the engine has one. A disagreement names the
// expression and the time.

#include "daemon/alerts/alert_expr.hpp"
#include "daemon/alerts/alert_series.hpp"

#include "support/promtool_series.hpp"
#include "support/shell_command.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace vitals::alerts {
namespace {

constexpr int steps = 121;           // 0s … 30m at 15 s
constexpr std::int64_t step_ms = 15000;
constexpr int eval_every = 4;        // evaluated each minute

const double nan_value = std::numeric_limits<double>::quiet_NaN();
const double inf = std::numeric_limits<double>::infinity();

// One input series: its name, labels and a value per step (nullopt: not
// on /metrics at that step).
struct input {
  std::string name;
  labels label_values;
  std::vector<std::optional<double>> values;
};

std::vector<input> scenario() {
  std::vector<input> in;
  auto series = [&](std::string name, labels l, auto value_at) {
    input x{std::move(name), std::move(l), {}};
    for (int s = 0; s < steps; ++s) x.values.push_back(value_at(s));
    in.push_back(std::move(x));
  };
  using opt = std::optional<double>;
  // Counters: steady, with resets, appearing late, vanishing, coming back.
  series("log_matches_total", {{"probe", "app"}, {"pattern", "error"}},
         [](int s) -> opt { return s < 40 ? 3.0 * s : s < 90 ? 2.0 * (s - 40) : 5.0 * (s - 90) + 1; });
  series("log_matches_total", {{"probe", "app"}, {"pattern", "warn"}}, [](int s) -> opt { return 100 + s / 3; });
  series("log_matches_total", {{"probe", "web"}, {"pattern", "error"}}, [](int s) -> opt {
    if (s < 20 || (s >= 70 && s < 78)) return std::nullopt;
    return 7.0 * s;
  });
  series("log_matches_total", {{"probe", "web"}, {"pattern", "warn"}},
         [](int s) -> opt { return s < 100 ? opt(0.5 * s) : std::nullopt; });
  // Gauges: a ratio's parts, memory growing toward a limit, connections.
  series("http_json_value", {{"probe", "api"}, {"field", "errors"}}, [](int s) -> opt {
    if (s == 33) return nan_value;
    if (s == 57) return inf;
    return (s * 7 % 13) * 1.5;
  });
  series("http_json_value", {{"probe", "api"}, {"field", "requests"}},
         [](int s) -> opt { return s == 81 ? 0.0 : 100.0 + (s * 11 % 17); });
  series("redis_used_memory_bytes", {{"probe", "cache"}},
         [](int s) -> opt { return 1e6 + 2500.0 * s + (s % 5) * 300.0; });
  series("redis_maxmemory_bytes", {{"probe", "cache"}}, [](int) -> opt { return 1.4e6; });
  series("postgres_connections", {{"probe", "db"}, {"database", "a"}}, [](int s) -> opt { return 10 + s % 7; });
  series("postgres_connections", {{"probe", "db"}, {"database", "b"}}, [](int s) -> opt { return 20 + s % 11; });
  series("postgres_connections", {{"probe", "db2"}, {"database", "a"}},
         [](int s) -> opt { return s >= 30 && s < 50 ? std::nullopt : opt(3.0 + s % 4); });
  series("postgres_max_connections", {{"probe", "db"}}, [](int) -> opt { return 40; });
  series("postgres_max_connections", {{"probe", "db2"}}, [](int) -> opt { return 10; });
  // Probe state: one flaps, one fails for a while, one negative gauge.
  series("probe_success", {{"probe", "api"}, {"kind", "http"}}, [](int s) -> opt { return (s / 3) % 2; });
  series("probe_success", {{"probe", "cache"}, {"kind", "redis"}}, [](int s) -> opt { return s >= 50 && s < 60 ? 0 : 1; });
  series("probe_success", {{"probe", "db"}, {"kind", "postgres"}}, [](int) -> opt { return 1; });
  series("probe_info", {{"probe", "api"}, {"kind", "http"}, {"target", "http://127.0.0.1:8080/health"}},
         [](int) -> opt { return 1; });
  series("probe_info", {{"probe", "cache"}, {"kind", "redis"}, {"target", "127.0.0.1:6379"}},
         [](int) -> opt { return 1; });
  series("temperature", {{"probe", "t"}}, [](int s) -> opt { return -3.25 + (s % 9) * 0.75; });
  // A histogram's buckets, cumulative counters.
  for (const auto& [le, share] : std::vector<std::pair<std::string, double>>{
           {"0.005", 0.1}, {"0.05", 0.45}, {"0.5", 0.9}, {"5", 0.97}, {"+Inf", 1.0}}) {
    series("probe_duration_seconds_bucket", {{"probe", "api"}, {"le", le}},
           [share = share](int s) -> opt { return std::floor(share * (40.0 * s + (s % 3))); });
    series("probe_duration_seconds_bucket", {{"probe", "cache"}, {"le", le}},
           [share = share](int s) -> opt { return std::floor(share * share * (12.0 * s)); });
  }
  return in;
}

std::vector<std::string> expressions() {
  std::vector<std::string> out;
  const std::vector<std::string> counters = {"log_matches_total", "log_matches_total{probe=\"web\"}",
                                             "log_matches_total{pattern=~\"err.*\"}"};
  const std::vector<std::string> gauges = {"http_json_value", "redis_used_memory_bytes", "postgres_connections",
                                           "temperature", "probe_success"};
  const std::vector<std::string> windows = {"1m", "5m", "10m"};
  for (const char* f : {"rate", "increase", "irate", "delta", "idelta", "resets", "changes"})
    for (const auto& c : counters)
      for (const auto& w : windows) out.push_back(std::string(f) + "(" + c + "[" + w + "])");
  for (const char* f : {"deriv", "delta", "idelta", "changes", "avg_over_time", "min_over_time", "max_over_time",
                        "sum_over_time", "count_over_time", "last_over_time", "absent_over_time"})
    for (const auto& g : gauges)
      for (const auto& w : {"1m", "5m"}) out.push_back(std::string(f) + "(" + g + "[" + w + "])");
  out.push_back("rate(log_matches_total[5m] offset 3m)");
  out.push_back("avg_over_time(temperature[2m] offset 30s)");
  out.push_back("absent_over_time(nothing{probe=\"x\", kind=~\"a\"}[5m])");
  out.push_back("absent_over_time(postgres_connections{probe=\"db2\"}[1m])");
  out.push_back("predict_linear(redis_used_memory_bytes[10m], 600)");
  out.push_back("predict_linear(redis_used_memory_bytes[30m], 3600) > redis_maxmemory_bytes");
  out.push_back("predict_linear(temperature[5m] offset 1m, 60)");
  out.push_back("deriv(redis_used_memory_bytes[15m]) * 60");

  // Functions of instant vectors and scalars.
  for (const auto& g : gauges)
    for (const char* f : {"abs", "ceil", "floor", "sqrt", "round"}) out.push_back(std::string(f) + "(" + g + ")");
  out.push_back("round(temperature, 0.5)");
  out.push_back("round(http_json_value, 2)");
  out.push_back("clamp_min(temperature, -1)");
  out.push_back("clamp_max(http_json_value, 10)");
  out.push_back("clamp(temperature, -1, 1)");
  out.push_back("clamp(temperature, 1, -1)");
  out.push_back("clamp_max(http_json_value, NaN)");
  out.push_back("absent(nothing{probe=\"x\", kind=~\"a\", kind=\"b\"})");
  out.push_back("absent(postgres_connections{probe=\"db2\"})");
  out.push_back("absent(probe_success{probe=\"api\"})");
  out.push_back("vector(1)");
  out.push_back("vector(time())");
  out.push_back("time()");
  out.push_back("scalar(redis_maxmemory_bytes)");
  out.push_back("scalar(postgres_connections)");
  out.push_back("temperature * scalar(redis_maxmemory_bytes)");
  out.push_back("histogram_quantile(0.9, rate(probe_duration_seconds_bucket[5m]))");
  out.push_back("histogram_quantile(0.5, sum by (le) (rate(probe_duration_seconds_bucket[5m])))");
  out.push_back("histogram_quantile(0.99, probe_duration_seconds_bucket)");
  out.push_back("histogram_quantile(1.5, probe_duration_seconds_bucket)");
  out.push_back("histogram_quantile(-1, probe_duration_seconds_bucket{probe=\"cache\"})");

  // Arithmetic and comparisons, with every kind of operand and matching.
  for (const char* op : {"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<="}) {
    const std::string o = op;
    out.push_back("temperature " + o + " 0.5");
    out.push_back("2 " + o + " temperature");
    out.push_back("http_json_value{field=\"errors\"} " + o + " ignoring(field) http_json_value{field=\"requests\"}");
    out.push_back("postgres_connections " + o + " on(probe) group_left postgres_max_connections");
    out.push_back("postgres_max_connections " + o + " on(probe) group_right postgres_connections");
    if (o.size() == 2 || o == ">" || o == "<") {
      out.push_back("temperature " + o + " bool 0");
      out.push_back("1 " + o + " bool 2");
      out.push_back("http_json_value " + o + " bool ignoring(field) group_left http_json_value{field=\"requests\"}");
    } else {
      out.push_back("3 " + o + " 4");
    }
  }
  out.push_back("http_json_value{probe=\"api\", field=\"errors\"} / ignoring(field) "
                "http_json_value{probe=\"api\", field=\"requests\"} > 0.05");
  out.push_back("sum by (probe) (postgres_connections) / on(probe) postgres_max_connections > 0.8");
  out.push_back("probe_success * on(probe) group_left(target) probe_info");
  out.push_back("probe_success == 0 and on(probe) probe_info");
  out.push_back("-temperature");
  out.push_back("-temperature * 2");
  out.push_back("- -temperature ^ 2");
  out.push_back("-2 ^ 2");
  out.push_back("2 ^ 3 ^ 2");
  out.push_back("2 ^ -1");
  out.push_back("1 - 2 - 3");
  out.push_back("10 / 4 % 3");
  out.push_back("(1 + 2) * temperature");
  out.push_back("1 + 2 * 3 > bool 6");
  out.push_back("Inf - Inf");
  out.push_back("0x10 + 1e2 + .5");
  out.push_back("temperature + temperature");
  out.push_back("temperature > 0 < 2");
  out.push_back("temperature + on() group_left vector(1)");

  // Set operators.
  for (const char* op : {"and", "or", "unless"}) {
    const std::string o = op;
    out.push_back("probe_success " + o + " probe_info");
    out.push_back("probe_success == 1 " + o + " on(probe) probe_info{kind=\"http\"}");
    out.push_back("probe_success " + o + " ignoring(kind, target) probe_info");
    out.push_back("postgres_connections " + o + " on(database) postgres_connections{probe=\"db2\"}");
  }
  out.push_back("probe_success == 0 or probe_success > 0 unless probe_info");

  // Aggregations.
  const std::vector<std::string> aggregated = {"postgres_connections", "log_matches_total", "http_json_value",
                                               "rate(log_matches_total[5m])", "probe_success"};
  for (const char* a : {"sum", "min", "max", "avg", "count", "group"}) {
    for (const auto& x : aggregated) {
      out.push_back(std::string(a) + "(" + x + ")");
      out.push_back(std::string(a) + " by (probe) (" + x + ")");
      out.push_back(std::string(a) + " without (pattern, database) (" + x + ")");
    }
  }
  out.push_back("sum(postgres_connections) by (database)");
  out.push_back("sum by (__name__) (postgres_connections)");
  for (const char* a : {"topk", "bottomk"}) {
    for (const auto& x : aggregated) {
      out.push_back(std::string(a) + "(1, " + x + ")");
      out.push_back(std::string(a) + "(2, " + x + ")");
      out.push_back(std::string(a) + " by (probe) (1, " + x + ")");
    }
    out.push_back(std::string(a) + "(0, postgres_connections)");
    out.push_back(std::string(a) + "(scalar(probe_success{probe=\"api\"}) + 1, postgres_connections)");
  }

  // Evaluation errors: both must fail.
  out.push_back("postgres_connections + on(probe) postgres_max_connections");
  out.push_back("abs(redis_used_memory_bytes or on(__name__) redis_maxmemory_bytes)");
  out.push_back("abs(log_matches_total) + ignoring(pattern) log_matches_total");
  return out;
}

// ---------------------------------------------------------------------------

std::string yaml_number(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  return number_text(v);
}

std::string go_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string labels_text(const series& s) {
  std::map<std::string, std::string> all = s.label_values;
  if (!s.name.empty()) all["__name__"] = s.name;
  std::string t = "{";
  bool first = true;
  for (const auto& [k, v] : all) {
    t += (first ? "" : ", ") + k + "=" + go_quoted(v);
    first = false;
  }
  return t + "}";
}

std::string series_text(const input& in) { return test::promtool_series(in.name, in.label_values); }

// promtool's notation: a value, "stale" where the series left, "_" where
// there is no sample.
std::string values_text(const input& in) {
  std::string t;
  bool present = false;
  for (std::size_t i = 0; i < in.values.size(); ++i) {
    if (i) t += ' ';
    if (in.values[i]) {
      t += number_text(*in.values[i]);
      present = true;
    } else {
      t += present ? "stale" : "_";
      present = false;
    }
  }
  return t;
}

struct answer {
  std::vector<std::pair<std::string, double>> samples;  // labels text, value
  bool error = false;
};

// The sample list promtool prints: `{a="b"} 1E+00, {} NaN` or `nil`.
std::vector<std::pair<std::string, double>> parse_samples(const std::string& text) {
  std::vector<std::pair<std::string, double>> out;
  std::size_t i = 0;
  while (i < text.size() && text[i] == '{') {
    std::size_t j = i + 1;
    bool quoted = false;
    for (; j < text.size(); ++j) {
      if (quoted && text[j] == '\\') {
        ++j;
        continue;
      }
      if (text[j] == '"') quoted = !quoted;
      if (!quoted && text[j] == '}') break;
    }
    const std::string labels = text.substr(i, j + 1 - i);
    std::size_t end = text.find(", {", j);
    if (end == std::string::npos) end = text.size();
    const std::string value = text.substr(j + 2, end - j - 2);
    out.push_back({labels, std::strtod(value.c_str(), nullptr)});
    i = end == text.size() ? end : end + 2;
  }
  return out;
}

bool same_value(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;
  return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
}

TEST(promql_promtool, the_engine_and_prometheus_agree_on_every_expression_at_every_minute) {
  const auto inputs = scenario();
  // Each expression goes to promtool as the engine prints it (what
  // `vitalsd rules` writes), so the printing is checked too.
  std::vector<std::string> texts;
  std::vector<std::unique_ptr<expr>> parsed;
  std::vector<history_need> needs;
  for (const auto& t : expressions()) {
    auto p = parse_expr(t);
    ASSERT_TRUE(p.value) << t << ": " << p.error->message << " at column " << p.error->column;
    texts.push_back(p.value->text());
    p.value->history_needs(needs);
    parsed.push_back(std::move(p.value));
  }

  // The engine, evaluation by evaluation as the daemon runs it.
  history past(100000, 100000000);
  past.require(needs, step_ms);
  std::map<std::pair<std::size_t, int>, answer> mine;  // (expression, step)
  std::set<std::size_t> ever_returned;
  for (int s = 0; s < steps; ++s) {
    series_table now;
    for (const auto& in : inputs)
      if (in.values[static_cast<std::size_t>(s)]) now.add(in.name, in.label_values, *in.values[static_cast<std::size_t>(s)]);
    const std::int64_t at = s * step_ms;
    past.record(now, at);
    if (s % eval_every != 0) continue;
    for (std::size_t e = 0; e < parsed.size(); ++e) {
      const auto r = parsed[e]->evaluate(now, &past, at);
      answer& a = mine[{e, s}];
      a.error = r.error.has_value();
      for (const auto& m : r.matches) a.samples.push_back({labels_text(m), m.value});
      if (!r.matches.empty()) ever_returned.insert(e);
    }
  }
  // The scenario must exercise the expressions: nearly all return series somewhere.
  EXPECT_GE(ever_returned.size() * 100, parsed.size() * 90)
      << ever_returned.size() << " of " << parsed.size() << " expressions ever return a series";

  // The same as a promtool suite; a deliberately wrong expectation at the
  // end proves promtool and the reading of its report compare values.
  const auto suite = [&](bool with_wrong) {
    std::ostringstream t;
    t << "rule_files: [rules.yml]\nevaluation_interval: 15s\ntests:\n  - interval: 15s\n    input_series:\n";
    for (const auto& in : inputs) t << "      - series: '" << series_text(in) << "'\n        values: '" << values_text(in) << "'\n";
    t << "    promql_expr_test:\n";
    for (const auto& [key, a] : mine) {
      t << "      - expr: '" << texts[key.first] << "'\n        eval_time: " << duration_text(key.second * step_ms)
        << "\n        exp_samples:";
      if (a.samples.empty()) t << " []";
      t << "\n";
      for (const auto& [l, v] : a.samples) t << "          - labels: '" << l << "'\n            value: " << yaml_number(v) << "\n";
    }
    if (with_wrong) t << "      - expr: 'vector(1)'\n        eval_time: 1m\n        exp_samples:\n          - labels: '{}'\n            value: 2\n";
    return t.str();
  };
  test::temp_dir dir;
  { std::ofstream(dir.path() + "/rules.yml") << "groups: []\n"; }
  { std::ofstream(dir.path() + "/test.yml") << suite(true); }
  const auto report = test::run_shell("cd " + dir.path() + " && promtool test rules test.yml");

  // What promtool reports: each case where it got something else.
  std::map<std::pair<std::string, std::string>, answer> theirs;  // (quoted expression, time)
  std::istringstream lines(report);
  std::string line;
  std::pair<std::string, std::string> current;
  while (std::getline(lines, line)) {
    const auto at = line.find("expr: ");
    if (at != std::string::npos && line.find(", time: ") != std::string::npos) {
      const auto time_at = line.rfind(", time: ");
      std::string time = line.substr(time_at + 8);
      const bool error = time.find(", err: ") != std::string::npos;
      time = time.substr(0, error ? time.find(", err: ") : time.find(','));
      current = {line.substr(at + 6, time_at - at - 6), time};
      theirs[current].error = error;
    } else if (const auto got = line.find("got: "); got != std::string::npos) {
      theirs[current].samples = parse_samples(line.substr(got + 5));
    }
  }
  ASSERT_TRUE(theirs.contains({go_quoted("vector(1)"), "1m"}))
      << "promtool did not report a wrong expectation; its report:\n" << report.substr(0, 4000);

  std::size_t compared = 0, disagreements = 0;
  std::set<std::string> disagreeing;
  for (const auto& [key, a] : mine) {
    ++compared;
    const auto it = theirs.find({go_quoted(texts[key.first]), duration_text(key.second * step_ms)});
    if (it == theirs.end()) {
      // promtool found exactly what the engine wrote; only an engine error
      // (written as no samples) cannot pass that way.
      if (a.error) {
        ++disagreements;
        ADD_FAILURE() << texts[key.first] << " at " << duration_text(key.second * step_ms)
                      << ": the engine fails, Prometheus returns nothing";
      }
      continue;
    }
    const answer& p = it->second;
    bool same = a.error == p.error;
    if (same && !a.error) {
      auto x = a.samples, y = p.samples;
      // topk and bottomk keep whichever of tied series their input lists
      // first, and Prometheus lists series in its storage's order, which
      // differs from run to run of promtool: there only the values must
      // agree.
      const bool ties_arbitrary = texts[key.first].starts_with("topk") || texts[key.first].starts_with("bottomk");
      if (ties_arbitrary)
        for (auto* v : {&x, &y})
          for (auto& sample : *v) sample.first.clear();
      const auto order = [](const auto& l, const auto& r) {
        return l.first != r.first ? l.first < r.first : std::isnan(r.second) ? !std::isnan(l.second) : l.second < r.second;
      };
      std::sort(x.begin(), x.end(), order);
      std::sort(y.begin(), y.end(), order);
      same = x.size() == y.size();
      for (std::size_t i = 0; same && i < x.size(); ++i) same = x[i].first == y[i].first && same_value(x[i].second, y[i].second);
    }
    if (!same) {
      ++disagreements;
      disagreeing.insert(texts[key.first]);
      std::string engine_text = a.error ? "error" : "";
      for (const auto& [l, v] : a.samples) engine_text += l + " " + number_text(v) + "; ";
      std::string prom_text = p.error ? "error" : "";
      for (const auto& [l, v] : p.samples) prom_text += l + " " + number_text(v) + "; ";
      if (disagreements <= 40)
        ADD_FAILURE() << texts[key.first] << " at " << duration_text(key.second * step_ms) << "\n  engine:     "
                      << engine_text << "\n  Prometheus: " << prom_text;
    }
  }
  std::string which;
  for (const auto& t : disagreeing) which += "\n  " + t;
  EXPECT_EQ(disagreements, 0u) << "of " << compared << " evaluations, in" << which;
  EXPECT_GT(compared, 10000u);
}

}  // namespace
}  // namespace vitals::alerts
