#include "daemon/alerts/alert_engine.hpp"

#include "daemon/alerts/alert_template.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

namespace vitals::alerts {

// ---------------------------------------------------------------------------
// Evaluation.

std::vector<alert_instance> engine::set_rules(std::vector<rule> rules) {
  std::map<std::string, std::map<labels, alert_instance>> kept;
  for (const auto& r : rules) {
    const auto old = std::find_if(rules_.begin(), rules_.end(), [&](const rule& o) { return o.name == r.name; });
    if (old == rules_.end() || old->when->text() != r.when->text()) continue;
    if (auto it = instances_.find(r.name); it != instances_.end()) {
      kept[r.name] = std::move(it->second);
      instances_.erase(it);
    }
  }
  std::vector<alert_instance> dropped;
  for (auto& [name, instances] : instances_)
    for (auto& [l, a] : instances) dropped.push_back(std::move(a));
  rules_ = std::move(rules);
  instances_ = std::move(kept);
  ++generation_;
  return dropped;
}

engine::query engine::prepare(std::chrono::milliseconds interval) const {
  query q;
  q.generation = generation_;
  q.past = past_;
  q.slack_ms = interval.count();
  for (const auto& r : rules_) {
    q.exprs.push_back(r.when);
    std::set<std::string> names;
    r.when->metric_names(names);
    q.names.insert(names.begin(), names.end());
    r.when->history_needs(q.needs);
  }
  return q;
}

std::vector<eval_result> engine::match(const query& q, const series_table& now, wall_clock::time_point at) {
  const auto at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
  q.past->require(q.needs, q.slack_ms);
  q.past->record(now, at_ms);
  std::vector<eval_result> out;
  out.reserve(q.exprs.size());
  for (const auto& e : q.exprs) out.push_back(e->evaluate(now, q.past.get(), at_ms));
  return out;
}

std::vector<transition> engine::evaluate(const std::vector<series>& all, wall_clock::time_point now,
                                         std::chrono::milliseconds interval) {
  series_table table;
  for (const auto& s : all) table.add(s.name, s.label_values, s.value);
  return apply(match(prepare(interval), table, now), now);
}

engine::history_size engine::history_stats() const {
  return {past_->series(), past_->samples(), past_->dropped(), past_->max_series(), past_->max_samples()};
}

void engine::set_history_limits(std::size_t max_series, std::size_t max_samples) {
  if (max_series != past_->max_series() || max_samples != past_->max_samples())
    past_ = std::make_shared<history>(max_series, max_samples);
}

std::vector<transition> engine::apply(const std::vector<eval_result>& results, wall_clock::time_point now) {
  std::vector<transition> changes;
  health_.clear();
  for (std::size_t i = 0; i < rules_.size() && i < results.size(); ++i) {
    const auto& r = rules_[i];
    health_.push_back({r.name, results[i].error.value_or(""), results[i].history_incomplete});
    if (results[i].error) continue;  // the alerts stay as they were, as in Prometheus
    auto& instances = instances_[r.name];
    std::set<labels> seen;
    for (const auto& s : results[i].matches) {
      labels l = s.label_values;
      for (const auto& [k, v] : r.labels) l[k] = v;
      l["alertname"] = r.name;
      l["severity"] = r.severity;
      if (!seen.insert(l).second) continue;  // two series with one label set: the first wins
      auto [it, inserted] = instances.try_emplace(l);
      alert_instance& a = it->second;
      if (inserted) {
        a.rule = r.name;
        a.label_values = l;
        a.active_since = now;
        a.state = alert_state::pending;
      }
      a.value = s.value;
      a.last_seen = now;
      a.restored = false;
      a.keep_firing_since.reset();
      a.summary = render_template(r.summary, s.label_values, s.value);
      a.description = render_template(r.description, s.label_values, s.value);
      a.runbook_url = r.runbook_url;
      if (a.state == alert_state::pending && now - a.active_since >= r.for_) {
        a.state = alert_state::firing;
        a.fired_at = now;
        changes.push_back({transition::kind::firing, a, now});
      } else if (inserted) {
        changes.push_back({transition::kind::pending, a, now});
      }
    }
    for (auto it = instances.begin(); it != instances.end();) {
      if (seen.contains(it->first)) {
        ++it;
        continue;
      }
      alert_instance& a = it->second;
      if (a.restored) {
        ++it;
        continue;
      }
      // A firing alert is held for keep_firing_for, counted from the first
      // evaluation that no longer returned it; a pending one just ends,
      // unannounced.
      if (a.state == alert_state::firing && r.keep_firing_for.count() > 0) {
        if (!a.keep_firing_since) a.keep_firing_since = now;
        if (now - *a.keep_firing_since < r.keep_firing_for) {
          ++it;
          continue;
        }
      }
      if (a.state == alert_state::firing) changes.push_back({transition::kind::resolved, a, now});
      it = instances.erase(it);
    }
  }
  return changes;
}

alert_instance* engine::find(const std::string& rule, const labels& label_values) {
  const auto r = instances_.find(rule);
  if (r == instances_.end()) return nullptr;
  const auto it = r->second.find(label_values);
  return it == r->second.end() ? nullptr : &it->second;
}

std::vector<alert_instance> engine::restore(std::vector<alert_instance> saved,
                                            const std::map<std::string, std::string>& exprs,
                                            wall_clock::time_point now) {
  std::vector<alert_instance> left;
  for (auto& a : saved) {
    const auto r = std::find_if(rules_.begin(), rules_.end(), [&](const rule& x) { return x.name == a.rule; });
    const auto e = exprs.find(a.rule);
    if (r == rules_.end() || e == exprs.end() || e->second != r->when->text()) {
      left.push_back(std::move(a));
      continue;
    }
    if (a.state == alert_state::pending && now - a.last_seen >= r->for_) a.active_since = now;
    a.restored = true;
    instances_[a.rule].insert_or_assign(a.label_values, std::move(a));
  }
  return left;
}

void engine::settle_restored(const std::function<bool(const alert_instance&)>& settled) {
  for (auto& [rule, instances] : instances_)
    for (auto& [l, a] : instances)
      if (a.restored && settled(a)) a.restored = false;
}

std::vector<alert_instance> engine::active() const {
  std::vector<alert_instance> out;
  for (const auto& r : rules_) {
    const auto it = instances_.find(r.name);
    if (it == instances_.end()) continue;
    for (const auto& [l, a] : it->second) out.push_back(a);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Series from a snapshot.

series_table select_table(const metrics_snapshot& snapshot, const metric_name_set& names) {
  series_table out;
  if (names.empty()) return out;
  snapshot.visit(names, [&out](const sample_view& s) { out.add(s.name, s.labels, s.value); });
  return out;
}

std::vector<series> select_series(const metrics_snapshot& snapshot, const metric_name_set& names) {
  std::vector<series> out;
  if (names.empty()) return out;
  snapshot.visit(names, [&out](const sample_view& s) {
    series& x = out.emplace_back();
    x.name = s.name;
    for (const auto& [k, v] : s.labels) x.label_values.emplace_hint(x.label_values.end(), k, v);
    x.value = s.value;
  });
  return out;
}

}  // namespace vitals::alerts
