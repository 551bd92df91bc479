#include "daemon/state/write_plan.hpp"

#include <iterator>

namespace vitals {

void write_plan::incident_changed(const incident& i) { waiting_[i.id] = i; }

void write_plan::resolve_waiting(std::int64_t id, alerts::wall_clock::time_point at) {
  if (auto w = waiting_.find(id); w != waiting_.end() && !w->second.resolved) w->second.resolved = at;
}

void write_plan::alerts_changed(std::vector<saved_alert> active) {
  alerts_ = std::move(active);
  alerts_dirty_ = true;
}

void write_plan::history_closed(std::vector<history_row> rows) {
  for (auto& r : rows) {
    auto key = std::make_tuple(r.probe, r.bucket.step_s, r.bucket.start_ms);
    history_.insert_or_assign(std::move(key), std::move(r));
  }
}

std::vector<history_bucket> write_plan::history_waiting(const std::string& probe, std::int32_t step_s,
                                                        std::int64_t since_ms) const {
  std::vector<history_bucket> out;
  for (auto it = history_.lower_bound({probe, step_s, since_ms});
       it != history_.end() && std::get<0>(it->first) == probe && std::get<1>(it->first) == step_s; ++it)
    out.push_back(it->second.bucket);
  return out;
}

void write_plan::bound_while_failing(std::size_t max_incidents) {
  if (healthy_) return;
  for (auto it = waiting_.begin(); waiting_.size() > max_incidents && it != waiting_.end();)
    it = it->second.resolved ? waiting_.erase(it) : std::next(it);
  // Minutes go first (they are kept 6 h at most anyway), then 10-minute steps.
  for (const std::int32_t step : {60, 600})
    for (auto it = history_.begin(); history_.size() > max_history_waiting && it != history_.end();)
      it = std::get<1>(it->first) == step ? history_.erase(it) : std::next(it);
}

write_plan::step write_plan::next() const {
  if (busy()) return step::none;
  if (!read_) return step::read;
  if (!alerts_dirty_ && waiting_.empty() && history_.empty()) return step::none;
  return step::write;
}

bool write_plan::read_finished(bool ok) {
  reading_ = false;
  if (!ok) return set_healthy(false);
  read_ = true;
  return false;
}

write_plan::write_job write_plan::start_write(alerts::wall_clock::time_point now) {
  writing_ = true;
  write_job job;
  job.alerts = alerts_;
  for (auto& [id, i] : waiting_) job.incidents.push_back(std::move(i));
  waiting_.clear();
  for (auto& [key, row] : history_) job.history.push_back(std::move(row));
  history_.clear();
  alerts_dirty_ = false;
  job.now = now;
  job.prune = now - last_prune_ >= prune_every;
  return job;
}

bool write_plan::write_finished(write_job job, bool ok) {
  writing_ = false;
  if (ok && job.prune) last_prune_ = job.now;
  if (!ok) {
    // Written next time, unless a newer version is already waiting.
    for (auto& i : job.incidents) waiting_.try_emplace(i.id, std::move(i));
    for (auto& r : job.history) {
      auto key = std::make_tuple(r.probe, r.bucket.step_s, r.bucket.start_ms);
      history_.try_emplace(std::move(key), std::move(r));
    }
    alerts_dirty_ = true;
  }
  return set_healthy(ok);
}

bool write_plan::file_lost() {
  read_ = false;
  alerts_dirty_ = true;
  return set_healthy(false);
}

bool write_plan::set_healthy(bool ok) {
  if (ok == healthy_) return false;
  healthy_ = ok;
  return true;
}

}  // namespace vitals
