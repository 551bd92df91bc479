#include "daemon/state/incident_log.hpp"

#include <algorithm>
#include <map>

namespace vitals {

const incident& incident_log::open(const alerts::alert_instance& a, std::string evidence_json,
                                   alerts::wall_clock::time_point at) {
  incident i;
  i.id = next_id_++;
  i.alertname = a.rule;
  const auto sev = a.label_values.find("severity");
  i.severity = sev == a.label_values.end() ? "" : sev->second;
  for (const auto& [k, v] : a.label_values)
    if (k != "alertname" && k != "severity") i.labels[k] = v;
  i.started = at;
  i.summary = a.summary;
  i.runbook_url = a.runbook_url;
  i.evidence_json = std::move(evidence_json);
  log_.push_back(std::move(i));
  return log_.back();
}

incident* incident_log::find(std::int64_t id) {
  for (auto it = log_.rbegin(); it != log_.rend(); ++it)
    if (it->id == id) return &*it;
  return nullptr;
}

void incident_log::next_id_at_least(std::int64_t id) { next_id_ = std::max(next_id_, id); }

void incident_log::trim(const retention& keep, alerts::wall_clock::time_point now) {
  const auto cutoff = now - keep.max_age;
  std::erase_if(log_, [&](const incident& i) { return i.resolved && *i.resolved < cutoff; });
  std::size_t excess = log_.size() > keep.max_incidents ? log_.size() - keep.max_incidents : 0;
  for (auto it = log_.begin(); excess > 0 && it != log_.end();) {
    if (it->resolved) {
      it = log_.erase(it);
      --excess;
    } else {
      ++it;
    }
  }
}

void incident_log::merge(std::vector<incident> stored, std::int64_t max_stored_id) {
  std::map<std::int64_t, incident> by_id;
  for (auto& i : stored) by_id.emplace(i.id, std::move(i));
  for (auto& i : log_) by_id.insert_or_assign(i.id, std::move(i));
  log_.clear();
  for (auto& [id, i] : by_id) log_.push_back(std::move(i));
  next_id_at_least(max_stored_id + 1);
}

std::vector<incident> incident_log::recent(alerts::wall_clock::time_point since, std::size_t limit) const {
  // Newest first while collecting, so `limit` costs no more than it keeps.
  std::vector<incident> out;
  for (auto it = log_.rbegin(); it != log_.rend() && out.size() < limit; ++it)
    if (!it->resolved || *it->resolved >= since) out.push_back(*it);
  std::reverse(out.begin(), out.end());
  return out;
}

std::set<std::int64_t> incident_log::ids() const {
  std::set<std::int64_t> out;
  for (const auto& i : log_) out.insert(i.id);
  return out;
}

std::vector<incident> close_orphans(std::vector<incident>& stored, const std::set<std::int64_t>& ours,
                                    alerts::wall_clock::time_point now) {
  std::vector<incident> closed;
  for (auto& i : stored) {
    if (i.resolved || ours.contains(i.id)) continue;
    i.resolved = now;
    closed.push_back(i);
  }
  return closed;
}

}  // namespace vitals
