#pragma once

#include "daemon/scheduler.hpp"

#include <string>
#include <vector>

namespace vitals {

// GET /api/v1/probes: every probe's settings, state, last result and evidence.
std::string probes_json(const std::vector<probe_status>& probes);

// GET /: a self-contained HTML page (no external assets) with the same data.
std::string status_page_html(const std::vector<probe_status>& probes);

}  // namespace vitals
