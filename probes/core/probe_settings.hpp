#pragma once

#include "probes/core/probe.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace vitals {

using duration = std::chrono::milliseconds;

// Scheduling settings every probe has (DESIGN §3), read by the config loader
// and handed to the kind's factory and to the scheduler.
struct probe_settings {
  std::string name;
  std::string type;
  duration interval{15'000};
  duration timeout{5'000};
  std::optional<duration> unhealthy_interval;  // faster interval while down
  int failure_threshold = 1;
  int success_threshold = 1;
  int failure_window = 0;  // 0: same as failure_threshold (consecutive failures)

  int effective_failure_window() const { return failure_window > 0 ? failure_window : failure_threshold; }
};

// One configured probe: what the scheduler runs.
struct probe_spec {
  probe_settings settings;
  // A digest of the canonical text of the probe's YAML after substitution
  // plus the effective defaults: equal fingerprints mean an unchanged probe
  // on reload. Derived from secrets: never log it.
  std::string fingerprint;
  std::shared_ptr<probe> instance;  // built by the kind's factory
};

}  // namespace vitals
