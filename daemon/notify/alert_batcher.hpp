#pragma once

// Which alerts go out after an evaluation: those that started firing or
// resolved, firing ones due for their re-send, and resolved ones repeated
// for a while. Sans-I/O and clock-free: the caller passes the time. Not
// thread-safe: the loop thread only.

#include "daemon/alerts/alert_engine.hpp"

#include <chrono>
#include <map>
#include <vector>

namespace vitals {

// One alert as it is sent to every receiver.
struct outgoing_alert {
  alerts::alert_instance alert;
  bool resolved = false;
  alerts::wall_clock::time_point ends_at;  // firing: a few intervals ahead; resolved: when it resolved
};

class alert_batcher {
public:
  // A firing alert's endsAt, in resend intervals ahead: Alertmanager
  // resolves it by itself when the re-sends stop (the daemon died).
  static constexpr int ends_at_intervals = 4;
  // Resend intervals a resolved alert is repeated: Alertmanager keeps no
  // state across its own restarts.
  static constexpr int resend_resolved_for = 4;

  // The batch for one evaluation (empty: nothing to send). A firing alert
  // goes out when first seen and again once `resend_interval` has passed
  // since it last went; a resolved one at once and then once per interval
  // while it resolved at most resend_resolved_for intervals ago.
  std::vector<outgoing_alert> after_evaluation(const std::vector<alerts::transition>& changes,
                                               const std::vector<alerts::alert_instance>& active,
                                               alerts::wall_clock::time_point now,
                                               std::chrono::milliseconds resend_interval);

private:
  std::map<alerts::labels, alerts::wall_clock::time_point> last_sent_;  // firing alerts
  struct resolved_alert {
    alerts::alert_instance alert;
    alerts::wall_clock::time_point resolved_at;
    alerts::wall_clock::time_point last_sent;
  };
  std::map<alerts::labels, resolved_alert> resolved_;
};

}  // namespace vitals
