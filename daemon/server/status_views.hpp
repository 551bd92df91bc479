#pragma once

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/state/state_store.hpp"

#include <chrono>

#include <string>
#include <vector>

namespace vitals {

// GET /api/v1/probes: every probe's settings, state, last result and evidence.
std::string probes_json(const std::vector<probe_status>& probes);

// GET /api/v1/alerts: every pending and firing alert instance, with its
// labels, value, times, rendered summary and runbook link.
std::string alerts_json(const std::vector<alerts::alert_instance>& active);

// What GET / shows.
struct status_page {
  std::string host;
  std::chrono::system_clock::time_point now;
  std::vector<probe_status> probes;
  std::vector<alerts::alert_instance> alerts;  // pending and firing
  std::vector<incident> incidents;             // recent, oldest first
};

// GET /: a self-contained HTML page (no external assets, a few lines of
// inline script to refresh itself): alerts with runbook links, every probe
// with its state, cause and evidence, recent incidents. Readable on a
// narrow screen.
std::string status_page_html(const status_page& page);

}  // namespace vitals
