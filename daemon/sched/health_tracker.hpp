#pragma once

#include <cstdint>
#include <optional>

namespace vitals {

// Turns raw run results into the `up` state exported as vitals_probe_up.
// Pure: no clock, no I/O, so every transition is tested directly.
//
// Down when at least `failure_threshold` of the last `failure_window` runs
// failed. With the window equal to the threshold (the default) that is
// "N consecutive failures" (Kubernetes' failureThreshold); a wider window
// catches a flapping 1-0-1-0 target that never fails twice in a row.
// Up again after `success_threshold` consecutive successes.
// Before the first run the state is unknown; the first run decides it
// directly, except that a first failure only counts towards the threshold.
class health_tracker {
public:
  struct thresholds {
    int failure_threshold = 1;  // 1..64
    int success_threshold = 1;  // >= 1
    int failure_window = 1;     // failure_threshold..64
  };

  explicit health_tracker(thresholds t);

  // Records one run. Returns true when the state changed.
  bool record(bool success);

  // Empty before the first run.
  std::optional<bool> up() const { return up_; }
  int consecutive_successes() const { return consecutive_successes_; }
  int failures_in_window() const;

private:
  thresholds t_;
  std::optional<bool> up_;
  std::uint64_t history_ = 0;  // bit i set: the run i runs ago failed
  int runs_seen_ = 0;
  int consecutive_successes_ = 0;
};

}  // namespace vitals
