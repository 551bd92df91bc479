#include "daemon/alerts/alert_engine.hpp"

#include "daemon/alerts/alert_template.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
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
  return dropped;
}

std::vector<transition> engine::evaluate(const std::vector<series>& all, wall_clock::time_point now) {
  std::vector<transition> changes;
  for (const auto& r : rules_) {
    auto& instances = instances_[r.name];
    std::set<labels> seen;
    for (const auto& s : r.when->eval(all)) {
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
// Exposition text.

std::vector<series> parse_exposition(std::string_view text) {
  std::vector<series> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    series s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const auto eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string name(line.substr(i, eq - i));
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        s.label_values.emplace(std::move(name), std::move(value));
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      // An unclosed quote or label set (found by fuzz_exposition): not a sample line.
      if (i >= line.size() || line[i] != '}') continue;
      ++i;
    }
    while (i < line.size() && line[i] == ' ') ++i;
    const auto end = line.find(' ', i);
    const std::string number(line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
    if (number == "NaN") {
      s.value = std::numeric_limits<double>::quiet_NaN();
    } else if (number == "+Inf" || number == "Inf") {
      s.value = std::numeric_limits<double>::infinity();
    } else if (number == "-Inf") {
      s.value = -std::numeric_limits<double>::infinity();
    } else {
      char* parsed_end = nullptr;
      s.value = std::strtod(number.c_str(), &parsed_end);
      if (number.empty() || parsed_end != number.c_str() + number.size()) continue;  // not a sample line
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace vitals::alerts
