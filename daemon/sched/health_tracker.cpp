#include "daemon/sched/health_tracker.hpp"

#include <algorithm>
#include <bit>

namespace vitals {

health_tracker::health_tracker(thresholds t) : t_(t) {
  t_.failure_threshold = std::clamp(t_.failure_threshold, 1, 64);
  t_.failure_window = std::clamp(t_.failure_window, t_.failure_threshold, 64);
  t_.success_threshold = std::max(t_.success_threshold, 1);
}

int health_tracker::failures_in_window() const {
  const std::uint64_t mask = t_.failure_window >= 64 ? ~0ULL : ((1ULL << t_.failure_window) - 1);
  return std::popcount(history_ & mask);
}

bool health_tracker::record(bool success) {
  history_ = (history_ << 1) | (success ? 0 : 1);
  runs_seen_ = std::min(runs_seen_ + 1, 64);
  consecutive_successes_ = success ? consecutive_successes_ + 1 : 0;

  const std::optional<bool> before = up_;
  if (success) {
    // A healthy first run is up at once: nothing suggests otherwise. A down
    // target needs success_threshold successes in a row.
    if (!up_ || (!*up_ && consecutive_successes_ >= t_.success_threshold)) up_ = true;
  } else if (failures_in_window() >= t_.failure_threshold) {
    up_ = false;
  } else if (!up_) {
    // Failed, but not yet often enough to call it down: report up (the
    // target has not been shown to be down), as Kubernetes liveness does.
    up_ = true;
  }
  return before != up_;
}

}  // namespace vitals
