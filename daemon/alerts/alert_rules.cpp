#include "daemon/alerts/alert_rules.hpp"

#include "daemon/alerts/alert_template.hpp"
#include "probes/core/node_reader.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/units.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace vitals::alerts {

namespace {

using namespace std::chrono_literals;

// Severity from the runbooks' matrix: critical = outage, high = partial,
// medium = degraded, low = no user impact. The one built-in that belongs to
// no probe kind; each kind ships its own beside its code.
const builtin_alert probe_down = {
    "ProbeDown", "vitals_probe_up == 0", builtin_alert::no_threshold, 1min, "high",
    "{{ $labels.probe }} ({{ $labels.kind }}) is down",
    "The {{ $labels.kind }} probe {{ $labels.probe }} has failed past its thresholds."};

std::string expression_of(const builtin_alert& b, double threshold, std::chrono::milliseconds hold) {
  std::string text(b.when);
  if (const auto at = text.find("{}"); at != std::string::npos) text.replace(at, 2, number_text(threshold));
  if (const auto at = text.find("{hold}"); at != std::string::npos) text.replace(at, 6, duration_text(hold.count()));
  return text;
}

rule make_builtin(const builtin_alert& b, double threshold, std::string_view runbook_base, const hold_windows& holds) {
  rule r;
  r.name = std::string(b.name);
  const auto hold = holds.find(b.name);
  r.when_text = expression_of(b, threshold, hold == holds.end() ? min_hold : hold->second);
  auto parsed = parse_expr(r.when_text);
  if (!parsed.value) throw std::logic_error("built-in rule " + r.name + ": " + parsed.error->message);
  r.when = std::move(parsed.value);
  r.for_ = b.for_;
  r.severity = std::string(b.severity);
  r.summary = std::string(b.summary);
  r.description = std::string(b.description);
  r.runbook_url = std::string(runbook_base) + std::string(b.name) + (runbook_base == default_runbook_base ? "" : ".md");
  r.builtin = true;
  return r;
}

std::optional<double> plain_number(std::string_view text) {
  if (!is_plain_number(text)) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// The value of a built-in's threshold in the unit its series has; a bare
// number is that unit's base (bytes, seconds, a 0..1 ratio) as before.
std::optional<double> threshold_in_unit(std::string_view text, threshold_unit unit) {
  if (auto v = plain_number(text)) return v;
  switch (unit) {
    case threshold_unit::number: return std::nullopt;
    case threshold_unit::bytes:
      if (auto bytes = parse_size(text)) return static_cast<double>(*bytes);
      return std::nullopt;
    case threshold_unit::bytes_per_second:
      if (text.ends_with("/s")) text.remove_suffix(2);
      if (auto bytes = parse_size(text)) return static_cast<double>(*bytes);
      return std::nullopt;
    case threshold_unit::seconds:
      if (auto d = parse_duration(text)) return std::chrono::duration<double>(*d).count();
      return std::nullopt;
    case threshold_unit::ratio:
      if (!text.ends_with("%")) return std::nullopt;
      text.remove_suffix(1);
      if (auto percent = plain_number(text)) return *percent / 100;
      return std::nullopt;
  }
  return std::nullopt;
}

std::string_view threshold_example(threshold_unit unit) {
  switch (unit) {
    case threshold_unit::number: return "a number";
    case threshold_unit::bytes: return "a size like \"200MiB\" (or bytes)";
    case threshold_unit::bytes_per_second: return "a rate like \"100KiB/s\" (or bytes per second)";
    case threshold_unit::seconds: return "a duration like \"10m\" (or seconds)";
    case threshold_unit::ratio: return "a share like \"80%\" or 0.8";
  }
  return "a number";
}

std::optional<double> read_threshold(node_reader& o, const builtin_alert& b) {
  const auto text = o.string("threshold");
  if (!text) return std::nullopt;
  const auto value = threshold_in_unit(*text, b.unit);
  if (!value) {
    o.error("threshold", "expected " + std::string(threshold_example(b.unit)) + ", got " + o.shown("threshold"));
    return std::nullopt;
  }
  if (b.unit == threshold_unit::ratio && (*value < 0 || *value > 1)) {
    o.error("threshold", "a share is between 0 and 1 (or 0% and 100%), got " + o.shown("threshold"));
    return std::nullopt;
  }
  return value;
}

bool valid_label_name(const std::string& n) {
  return !n.empty() && !(n[0] >= '0' && n[0] <= '9') && n.rfind("__", 0) != 0 &&
         std::all_of(n.begin(), n.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
         });
}

bool valid_alert_name(const std::string& n) {
  return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Parses `when` and checks its metric names; errors point into the
// expression: file:line:column of the offending character.
std::shared_ptr<const expr> read_expression(node_reader& r, const std::string& text,
                                            const std::set<std::string>& known) {
  const YAML::Node value = r.node()["when"];
  YAML::Mark mark = value.Mark();
  const bool quoted = value.Tag() == "!";
  auto at = [&](std::size_t column) {
    YAML::Mark m = mark;
    m.column += static_cast<int>(column - 1) + (quoted ? 1 : 0);
    return m;
  };
  auto parsed = parse_expr(text);
  if (!parsed.value) {
    r.error_at(at(parsed.error->column), "when", parsed.error->message);
    return nullptr;
  }
  std::set<std::string> names;
  parsed.value->metric_names(names);
  bool ok = true;
  for (const auto& name : names) {
    if (known.contains(name)) continue;
    std::string message = "unknown metric " + name;
    const auto suggestion = did_you_mean(name, std::vector<std::string>(known.begin(), known.end()));
    if (!suggestion.empty()) message += "; did you mean " + suggestion + "?";
    r.error_at(at(text.find(name) + 1), "when", message);
    ok = false;
  }
  if (!ok) return nullptr;
  return std::shared_ptr<const expr>(std::move(parsed.value));
}

std::optional<rule> read_user_rule(node_reader& r, const std::set<std::string>& known) {
  rule out;
  r.read_required("name", out.name, [](const std::string& name, const std::string& shown) {
    return valid_alert_name(name) ? std::string() : shown + " is not an alert name (letters, digits and _)";
  });
  if (r.read_required("when", out.when_text)) out.when = read_expression(r, out.when_text, known);
  r.read("for", out.for_);
  r.read("keep_firing_for", out.keep_firing_for);
  r.read("severity", out.severity, {"critical", "high", "medium", "low"});
  if (auto labels = r.map("labels")) {
    for (const auto& kv : labels->node()) {
      const std::string name = kv.first.Scalar();
      labels->known({name});
      if (!valid_label_name(name) || name == "alertname" || name == "severity")
        labels->error(name, "\"" + name + "\" cannot be a rule label");
      else if (std::string value; labels->read_required(name, value))
        out.labels[name] = std::move(value);
    }
  }
  r.read("summary", out.summary, template_problem);
  r.read("description", out.description, template_problem);
  r.read("runbook_url", out.runbook_url);
  r.finish();
  if (r.failed()) return std::nullopt;
  return out;
}

}  // namespace

std::set<std::string> known_metric_names(const probe_registry& registry) {
  std::set<std::string> names = {
      "vitals_probe_success", "vitals_probe_up", "vitals_probe_runs_total",
      "vitals_probe_last_run_timestamp_seconds", "vitals_probe_duration_seconds_bucket",
      "vitals_probe_duration_seconds_sum", "vitals_probe_duration_seconds_count", "vitals_build_info",
      "vitals_config_last_reload_successful", "vitals_config_last_reload_success_timestamp_seconds",
      "vitals_scheduler_lag_seconds_bucket", "vitals_scheduler_lag_seconds_sum", "vitals_scheduler_lag_seconds_count",
      "vitals_probe_failure_info", "vitals_alerts", "vitals_notifications_total",
      "vitals_notification_queue_length", "vitals_state_store_healthy", "process_cpu_seconds_total", "process_resident_memory_bytes",
      "process_virtual_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds"};
  for (const auto& kind : registry.kinds())
    for (const auto& m : kind.metrics) names.insert(std::string(m.name));
  return names;
}

std::vector<builtin_alert> builtin_alerts(const probe_registry& registry) {
  std::vector<builtin_alert> out{probe_down};
  // Kinds that share a series share its built-in (http and websocket both
  // export the TLS certificate's expiry): the first one listed is kept.
  for (const auto& kind : registry.kinds())
    for (const auto& b : kind.alerts)
      if (std::none_of(out.begin(), out.end(), [&](const builtin_alert& seen) { return seen.name == b.name; }))
        out.push_back(b);
  return out;
}

std::vector<rule> builtin_rules(const probe_registry& registry, std::string_view runbook_base,
                                const hold_windows& holds) {
  std::vector<rule> out;
  for (const auto& b : builtin_alerts(registry)) out.push_back(make_builtin(b, b.threshold, runbook_base, holds));
  return out;
}

hold_windows builtin_holds(const probe_registry& registry,
                           const std::vector<std::pair<std::string, std::chrono::milliseconds>>& probe_intervals,
                           std::chrono::milliseconds evaluation_interval) {
  hold_windows out;
  for (const auto& kind : registry.kinds()) {
    std::chrono::milliseconds slowest{0};
    for (const auto& [type, interval] : probe_intervals)
      if (type == kind.type) slowest = std::max(slowest, interval);
    // Two intervals and two evaluations: the last good value is still in
    // the window when the run after a failed one has been seen.
    auto hold = std::max(min_hold, 2 * (slowest + evaluation_interval));
    hold = std::chrono::ceil<std::chrono::seconds>(hold);
    for (const auto& b : kind.alerts) {
      auto& h = out[std::string(b.name)];
      h = std::max(h, hold);
    }
  }
  return out;
}

std::vector<rule> read_alert_rules(node_reader& r, const probe_registry& registry, const hold_windows& holds) {
  const auto known = known_metric_names(registry);
  const auto builtins = builtin_alerts(registry);
  std::vector<rule> out;
  bool defaults = true;
  if (r.has("defaults")) defaults = r.boolean("defaults").value_or(true);
  std::string base(default_runbook_base);
  if (r.has("runbook_base_url")) base = r.string("runbook_base_url").value_or(base);

  // Per built-in: false, or {threshold, for, severity}.
  std::map<std::string, node_reader> overrides;
  if (r.has("builtin")) {
    if (auto m = r.map("builtin")) {
      for (const auto& kv : m->node()) {
        const std::string name = kv.first.Scalar();
        m->known({name});
        const bool exists = std::any_of(builtins.begin(), builtins.end(),
                                        [&](const builtin_alert& b) { return name == b.name; });
        if (!exists) {
          std::vector<std::string> names;
          for (const auto& b : builtins) names.emplace_back(b.name);
          const auto hint = did_you_mean(name, names);
          m->error(name, "no built-in rule named \"" + name + "\"" + (hint.empty() ? "" : "; did you mean " + hint + "?"));
          continue;
        }
        overrides.emplace(name, m->nested(name));
      }
    }
  }
  if (defaults) {
    for (const auto& b : builtins) {
      double threshold = b.threshold;
      auto it = overrides.find(std::string(b.name));
      rule built = make_builtin(b, threshold, base, holds);
      if (it != overrides.end()) {
        node_reader& o = it->second;
        if (o.node().IsScalar()) {
          const std::string& v = o.node().Scalar();
          if (v == "false") continue;  // disabled
          if (v != "true") o.error_here("expected false (to disable it) or a mapping of threshold, for, severity");
        } else if (o.is_map()) {
          if (std::isnan(b.threshold)) {
            if (o.has("threshold")) o.error("threshold", std::string(b.name) + " has no threshold to change");
          } else if (o.has("threshold")) {
            if (const auto threshold = read_threshold(o, b)) built = make_builtin(b, *threshold, base, holds);
          }
          o.read("for", built.for_);
          o.read("severity", built.severity, {"critical", "high", "medium", "low"});
          o.finish();
        } else {
          o.error_here("expected false (to disable it) or a mapping of threshold, for, severity");
        }
      }
      out.push_back(std::move(built));
    }
  }

  std::map<std::string, int> seen;
  for (const auto& b : out) seen[b.name] = 0;
  if (r.has("rules")) {
    if (auto items = r.sequence("rules")) {
      for (auto& item : *items) {
        if (!item.is_map()) {
          item.error_here("expected a rule: a mapping with name and when");
          continue;
        }
        auto parsed = read_user_rule(item, known);
        if (!parsed) continue;
        if (seen.contains(parsed->name)) {
          item.error("name", "rule \"" + parsed->name + "\" is defined twice" +
                                 (seen[parsed->name] == 0 ? " (a built-in has that name; disable it under builtin)" : ""));
          continue;
        }
        seen[parsed->name] = 1;
        out.push_back(std::move(*parsed));
      }
    }
  }
  return out;
}

std::string prometheus_rule_file(const std::vector<rule>& rules) {
  auto duration_text = [](std::chrono::milliseconds d) { return format_duration(d); };
  YAML::Emitter y;
  y << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
  y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "vitals";
  y << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  for (const auto& r : rules) {
    y << YAML::BeginMap;
    y << YAML::Key << "alert" << YAML::Value << r.name;
    y << YAML::Key << "expr" << YAML::Value << YAML::DoubleQuoted << r.when->text();
    if (r.for_.count() > 0) y << YAML::Key << "for" << YAML::Value << duration_text(r.for_);
    if (r.keep_firing_for.count() > 0)
      y << YAML::Key << "keep_firing_for" << YAML::Value << duration_text(r.keep_firing_for);
    y << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "severity" << YAML::Value << r.severity;
    for (const auto& [k, v] : r.labels) y << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
    y << YAML::EndMap;
    y << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
    if (!r.summary.empty()) y << YAML::Key << "summary" << YAML::Value << YAML::DoubleQuoted << r.summary;
    if (!r.description.empty())
      y << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted << r.description;
    if (!r.runbook_url.empty()) y << YAML::Key << "runbook_url" << YAML::Value << r.runbook_url;
    y << YAML::EndMap;
    y << YAML::EndMap;
  }
  y << YAML::EndSeq << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  return std::string(y.c_str()) + "\n";
}

}  // namespace vitals::alerts
