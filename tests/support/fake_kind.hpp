#pragma once

// A probe kind with two series of its own, for tests of what the daemon
// does with any kind's series: metrics, snapshots, the alert engine's reads.

#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/probe_settings.hpp"

#include <array>
#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vitals::test {

struct fake_kind {
  static constexpr std::string_view type = "fake";
  static probe_builder create(const probe_settings&, node_reader&) { return {}; }
  static std::span<const metric_info> metrics() {
    static constexpr std::array infos{metric_info{"vitals_fake_value", "A value for tests", metric_kind::gauge},
                                      metric_info{"vitals_fake_events_total", "Events", metric_kind::counter}};
    return infos;
  }
  static std::span<const builtin_alert> alerts() { return {}; }
};

inline probe_registry fake_registry() {
  probe_registry r;
  r.add<fake_kind>();
  return r;
}

inline probe_settings fake_settings(std::string name) {
  probe_settings s;
  s.name = std::move(name);
  s.type = "fake";
  return s;
}

// A finished run of 3 ms at a fixed time, ok or refused.
inline run_outcome fake_outcome(bool ok, std::vector<sample> samples = {}) {
  run_outcome o;
  o.result = ok ? probe_result::success() : probe_result::failure("refused", "connection refused");
  o.result.samples = std::move(samples);
  o.duration_seconds = 0.003;
  o.finished_at = std::chrono::system_clock::time_point{std::chrono::seconds(1700000000)};
  return o;
}

}  // namespace vitals::test
