#pragma once

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/state/probe_history.hpp"
#include "daemon/state/state_store.hpp"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace vitals {

// Every view here is valid UTF-8: ill-formed bytes in what it quotes (a
// target's answer, a process name) come out as U+FFFD.

// GET /api/v1/probes: every probe's settings, state, last result and evidence.
std::string probes_json(const std::vector<probe_status>& probes);

// GET /api/v1/alerts: every pending and firing alert instance, with its
// labels, value, times, rendered summary and runbook link.
std::string alerts_json(const std::vector<alerts::alert_instance>& active);

// `list` with every text made valid UTF-8 (ill-formed bytes replaced by
// U+FFFD), for the views that show incidents. Rows an earlier version
// stored may quote a target's raw bytes; their evidence then parses again.
std::vector<incident> valid_utf8_incidents(std::vector<incident> list);

// An incident's evidence as taken when it fired (cause and evidence lines),
// as a <details> element; empty when it has none.
std::string evidence_at_firing_html(const incident& i);

// What GET / shows.
struct status_page {
  std::string host;
  std::chrono::system_clock::time_point now;
  std::vector<probe_status> probes;
  std::vector<alerts::alert_instance> alerts;  // pending and firing
  std::vector<incident> incidents;             // recent, oldest first
  std::map<std::string, probe_history::view, std::less<>> history;  // by probe name
};

// GET /: an HTML page with no inline style or script (its stylesheet and
// the script that refreshes it come from /static/, see status_assets.hpp,
// so a strict Content-Security-Policy holds) and nothing from elsewhere:
// alerts with runbook links, every probe with its state, the strip of its
// last runs, a response-time sparkline, uptime, its kind's key numbers, its
// cause and evidence (history_views.hpp), and recent incidents. Readable on
// a narrow screen.
std::string status_page_html(const status_page& page);

}  // namespace vitals
