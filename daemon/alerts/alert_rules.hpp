#pragma once

// Alert rules: the built-in set (DESIGN §6) and the user's, read from the
// `alerts:` section, and the same rules as a Prometheus rule file.

#include "daemon/alerts/alert_expr.hpp"
#include "probes/core/probe.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {
class node_reader;
class probe_registry;
}  // namespace vitals

namespace vitals::alerts {

struct rule {
  std::string name;                     // alertname
  std::string when_text;                // the expression as written
  std::shared_ptr<const expr> when;
  std::chrono::milliseconds for_{0};
  std::chrono::milliseconds keep_firing_for{0};
  std::string severity = "high";        // critical | high | medium | low
  std::map<std::string, std::string> labels;
  std::string summary;                  // templates: {{ $labels.probe }}, {{ $value | humanize }}, …
  std::string description;
  std::string runbook_url;
  bool builtin = false;
};

// Without alerts.runbook_base_url a built-in links the runbook the daemon
// serves itself: "/runbooks/NAME", a path the app makes absolute under the
// daemon's own URL (daemon/server/runbook_links.hpp). Any other base is
// the user's: base + NAME + ".md".
constexpr std::string_view default_runbook_base = "/runbooks/";

// Every metric name a series on /metrics can carry: the common per-probe
// series, each registered probe kind's, the daemon's own (histograms
// with _bucket/_sum/_count). A rule naming anything else is a config error.
std::set<std::string> known_metric_names(const probe_registry& registry);

// The built-in rules' templates: ProbeDown, then each registered kind's.
std::vector<builtin_alert> builtin_alerts(const probe_registry& registry);

// A built-in on a kind's own series reads it as
// last_over_time(series[hold]): those series are gone from /metrics while
// a run fails, and without the hold one timed-out run would resolve a
// firing alert (closing its incident) or restart a pending one's `for` —
// in the daemon and in Prometheus alike. Built-in name -> hold; a built-in
// missing here holds min_hold.
using hold_windows = std::map<std::string, std::chrono::milliseconds, std::less<>>;
inline constexpr std::chrono::milliseconds min_hold{60'000};

// The holds for these probes (type, interval): twice the slowest interval
// of the kinds that ship the built-in plus two evaluation intervals, at
// least min_hold, in whole seconds. One failed run then neither resolves
// nor restarts an alert; a probe that stays down drops out of it after the
// hold (ProbeDown covers it meanwhile).
hold_windows builtin_holds(const probe_registry& registry,
                           const std::vector<std::pair<std::string, std::chrono::milliseconds>>& probe_intervals,
                           std::chrono::milliseconds evaluation_interval);

// The built-in rules with their default thresholds, runbooks under `runbook_base`.
std::vector<rule> builtin_rules(const probe_registry& registry, std::string_view runbook_base = default_runbook_base,
                                const hold_windows& holds = {});

// Reads `alerts:` — `defaults` (the built-ins, default true),
// `runbook_base_url`, `builtin` (per built-in: false to disable, or
// {threshold, for, severity}), `rules` (metric names checked against the
// registry's kinds) — reporting problems to the
// reader's diagnostics with file:line:column. Returns the active rules,
// built-ins first.
std::vector<rule> read_alert_rules(node_reader& alerts, const probe_registry& registry,
                                   const hold_windows& holds = {});

// The rules as a Prometheus rule file (one group, "vitals"): what
// `vitalsd rules` prints and `promtool check rules` accepts.
std::string prometheus_rule_file(const std::vector<rule>& rules);

}  // namespace vitals::alerts
