#pragma once

// The run history drawn and served: the pieces the status page shows per
// probe (a strip of its last runs, a response-time sparkline, uptime and
// the kind's key numbers), the page of one probe (/probes/NAME: charts
// over 1 h, 24 h and 7 d with its incidents on the time axis), and
// GET /api/v1/probes/NAME/history. Everything is inline SVG and HTML with
// classes from /static/status.css: no script, no inline style, nothing
// from elsewhere. Every view is valid UTF-8.

#include "daemon/sched/scheduler.hpp"
#include "daemon/state/probe_history.hpp"
#include "daemon/state/state_store.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace vitals {

// "/probes/NAME" with NAME percent-encoded as a path segment.
std::string probe_page_path(std::string_view name);

// How many runs the status page's strip shows (the probe's page shows all
// it keeps).
inline constexpr std::size_t strip_runs = 60;

// <svg class="strip">: one cell per run (4 px wide, strip_pitch apart),
// right-aligned so the newest is always last, classed by
// how it ended (ok, failed, timed_out, skipped); each names its time (UTC),
// duration and cause in a tooltip (<title>) and carries data-at (Unix ms).
std::string run_strip_svg(const std::vector<recent_run>& runs, std::size_t cells);

// <svg class="spark">: a line through `values` from 0 at the bottom to
// their maximum at the top, `pitch` px apart: the points are
// x = pitch · i + (pitch − 1) / 2 and y = 23 − 22 · v / max (1 decimal);
// NaN values are left out. Under a strip (pitch 5) each point sits under
// its run's cell. Empty when fewer than two values are finite.
inline constexpr double strip_pitch = 5, spark_height = 24;
std::string sparkline_svg(const std::vector<double>& values, const std::string& label, double pitch = 2);

// "99.95 %", "100 %", or "–" without runs.
std::string uptime_text(const uptime& u);

// The status page's cells for one probe: the strip and sparkline, uptime
// over 1 h / 24 h / 7 d, and the kind's key numbers.
std::string history_cell(const probe_history::view& v);
std::string uptime_cell(const probe_history::view& v);
std::string key_numbers_cell(const probe_history::view& v);

// One range of a probe's aggregates, as the probe's page and the API use it.
struct history_range {
  std::chrono::seconds range;
  std::chrono::seconds step;
  std::chrono::system_clock::time_point end;  // now
  std::vector<history_bucket> buckets;          // oldest first, the open one last
  bool complete = true;                         // false: the state store could not be read
  std::string problem;
};

// GET /api/v1/probes/NAME/history?range=…&runs=…: the aggregates of `r`,
// the newest `runs` of the recent runs and the uptime windows (docs/api.md).
std::string history_json(const probe_status& p, const probe_history::view& v, const history_range& r,
                         std::size_t runs = probe_history::recent_runs_kept);

// GET /probes/NAME.
struct probe_page {
  std::string host;
  std::chrono::system_clock::time_point now;
  probe_status probe;
  probe_history::view history;
  std::vector<history_range> ranges;  // 1 h, 24 h, 7 d
  std::vector<incident> incidents;    // of this probe, oldest first
};
std::string probe_page_html(const probe_page& page);

}  // namespace vitals
