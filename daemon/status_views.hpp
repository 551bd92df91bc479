#pragma once

#include "daemon/alert_engine.hpp"
#include "daemon/scheduler.hpp"

#include <string>
#include <vector>

namespace vitals {

// GET /api/v1/probes: every probe's settings, state, last result and evidence.
std::string probes_json(const std::vector<probe_status>& probes);

// GET /api/v1/alerts: every pending and firing alert instance, with its
// labels, value, times, rendered summary and runbook link.
std::string alerts_json(const std::vector<alerts::alert_instance>& active);

// GET /: a self-contained HTML page (no external assets) with the same data.
std::string status_page_html(const std::vector<probe_status>& probes);

}  // namespace vitals
