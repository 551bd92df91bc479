#include "daemon/notify/alert_batcher.hpp"

namespace vitals {

std::vector<outgoing_alert> alert_batcher::after_evaluation(const std::vector<alerts::transition>& changes,
                                                            const std::vector<alerts::alert_instance>& active,
                                                            alerts::wall_clock::time_point now,
                                                            std::chrono::milliseconds resend_interval) {
  std::vector<outgoing_alert> batch;
  for (const auto& t : changes) {
    if (t.what == alerts::transition::kind::resolved) {
      last_sent_.erase(t.alert.label_values);
      resolved_[t.alert.label_values] = {t.alert, now, now};
      batch.push_back({t.alert, true, now});
    }
  }
  for (const auto& a : active) {
    if (a.state != alerts::alert_state::firing) continue;
    auto it = last_sent_.find(a.label_values);
    if (it != last_sent_.end() && now - it->second < resend_interval) continue;
    last_sent_[a.label_values] = now;
    resolved_.erase(a.label_values);
    batch.push_back({a, false, now + resend_interval * ends_at_intervals});
  }
  for (auto it = resolved_.begin(); it != resolved_.end();) {
    auto& r = it->second;
    if (now - r.resolved_at > resend_interval * resend_resolved_for) {
      it = resolved_.erase(it);
      continue;
    }
    if (now - r.last_sent >= resend_interval) {
      r.last_sent = now;
      batch.push_back({r.alert, true, r.resolved_at});
    }
    ++it;
  }
  return batch;
}

}  // namespace vitals
