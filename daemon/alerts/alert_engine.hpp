#pragma once

// Alert evaluation with Prometheus's semantics: one instance per label set
// a rule's expression returns; pending until it has held for `for`, then
// firing; resolved when it no longer holds (after `keep_firing_for`).
// Pure and clock-free: the caller passes the series and the time.

#include "daemon/alerts/alert_rules.hpp"
#include "daemon/metrics/metrics_snapshot.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vitals::alerts {

using wall_clock = std::chrono::system_clock;


enum class alert_state { pending, firing };

struct alert_instance {
  std::string rule;
  labels label_values;  // the series' labels, the rule's labels, alertname and severity
  double value = 0;
  alert_state state = alert_state::pending;
  wall_clock::time_point active_since;  // first evaluation that returned it
  wall_clock::time_point fired_at;      // when it started firing
  wall_clock::time_point last_seen;     // last evaluation that returned it
  // First evaluation that no longer returned it while it was firing: the
  // start of keep_firing_for (Prometheus's KeepFiringSince); unset otherwise.
  std::optional<wall_clock::time_point> keep_firing_since;
  std::string summary;                  // rendered with the latest value
  std::string description;
  std::string runbook_url;
  std::string evidence;        // what the probe saw when it started firing, as "key: value" lines
  std::int64_t incident_id = 0;  // the incident it opened (0: none yet)
  // Restored from the state store and not yet judged again: kept as it was
  // while the series it came from may simply not have been produced yet.
  bool restored = false;
};

struct transition {
  enum class kind { pending, firing, resolved } what = kind::pending;
  alert_instance alert;
  wall_clock::time_point at;
};

class engine {
public:
  // Replaces the rules. Instances of a rule whose name and expression are
  // unchanged keep their state; the others are dropped (a changed rule
  // starts over, as Prometheus does on a rule reload). Returns the
  // instances dropped that way, so their incidents can be closed.
  std::vector<alert_instance> set_rules(std::vector<rule> rules);

  // What an evaluation reads, taken on the loop and usable on any thread:
  // the rules' expressions (immutable once parsed), the metric names they
  // select, and the history their range selectors and offsets read (the
  // engine's; one evaluation at a time uses it).
  struct query {
    std::uint64_t generation = 0;  // of the rules it was taken from
    std::vector<std::shared_ptr<const expr>> exprs;  // in rule order
    metric_name_set names;
    std::shared_ptr<history> past;
    std::vector<history_need> needs;
    std::int64_t slack_ms = 0;  // one evaluation interval
  };
  // `interval`: how often evaluations come, which the history keeps beyond
  // the farthest reach of a range.
  query prepare(std::chrono::milliseconds interval = std::chrono::seconds(5)) const;

  // Records `now` in the query's history at `at`, then evaluates each
  // rule's expression, in rule order. Any thread, one call at a time per
  // engine.
  static std::vector<eval_result> match(const query& q, const series_table& now, wall_clock::time_point at);

  // Judges the instances on `results` from a query of the current rules
  // (generation() unchanged since prepare()) at `now`; returns what
  // changed, in rule order. A rule whose evaluation failed keeps its
  // instances as they are, as Prometheus does.
  std::vector<transition> apply(const std::vector<eval_result>& results, wall_clock::time_point now);

  // Changes with every set_rules().
  std::uint64_t generation() const { return generation_; }

  // One evaluation over `all` at `now`: match() and apply() in one go.
  std::vector<transition> evaluate(const std::vector<series>& all, wall_clock::time_point now,
                                   std::chrono::milliseconds interval = std::chrono::seconds(5));

  // What the last apply() saw of each rule, in rule order: its evaluation
  // error (empty when none) and whether its history was incomplete.
  struct rule_health {
    std::string name;
    std::string error;
    bool history_incomplete = false;
  };
  const std::vector<rule_health>& health() const { return health_; }
  // The history's size: series and samples kept, series left out.
  struct history_size {
    std::size_t series = 0, samples = 0, dropped = 0, max_series = 0, max_samples = 0;
  };
  history_size history_stats() const;
  // The caps on series and samples kept for range selectors and offsets;
  // a change starts the history over.
  void set_history_limits(std::size_t max_series, std::size_t max_samples);

  // Every pending and firing instance.
  std::vector<alert_instance> active() const;

  // The instance of `rule` with these labels, or null.
  alert_instance* find(const std::string& rule, const labels& label_values);

  // Takes back instances saved before a restart. Only those whose rule
  // still exists with the same expression (`exprs`: rule -> expression
  // text when saved) come back; each is marked `restored`. A firing one
  // keeps its start, so it is neither announced again nor forgotten; a
  // pending one keeps its start only if the gap since it was last seen is
  // shorter than its rule's `for` (the daemon saw nothing meanwhile).
  // Returns the ones not taken back.
  std::vector<alert_instance> restore(std::vector<alert_instance> saved,
                                      const std::map<std::string, std::string>& exprs, wall_clock::time_point now);

  // A restored instance that an evaluation does not return is kept as it
  // is until `settled(instance)` says its series can be trusted again (its
  // probe has run since the start); then it is judged as usual.
  void settle_restored(const std::function<bool(const alert_instance&)>& settled);

  const std::vector<rule>& rules() const { return rules_; }

private:
  std::vector<rule> rules_;
  std::uint64_t generation_ = 0;
  std::shared_ptr<history> past_ =
      std::make_shared<history>(default_max_history_series, default_max_history_samples);
  std::vector<rule_health> health_;
  // rule name -> label set -> instance
  std::map<std::string, std::map<labels, alert_instance>> instances_;
};

// The series of a snapshot of /metrics whose names are in `names` (none
// when it is empty), read without a text round trip.
std::vector<series> select_series(const metrics_snapshot& snapshot, const metric_name_set& names);
// The same as the input of match().
series_table select_table(const metrics_snapshot& snapshot, const metric_name_set& names);

}  // namespace vitals::alerts
