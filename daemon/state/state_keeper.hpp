#pragma once

// The daemon's side of the state store: the incident log in memory (what
// the API serves), and write-behind to SQLite on the pool, one write at a
// time, coalesced. When the store fails (disk full, unwritable, corrupt)
// everything goes on in memory: one loud log line, vitals_state_store_healthy
// 0, and the writes resume, complete, once the file works again. A file
// deleted, replaced or emptied under the store is noticed at the next write:
// whatever is at the path then is read, and everything in memory written to
// it. What to write and when is write_plan's decision and the log is an
// incident_log (both pure); this class runs their steps on the loop and the
// pool.

#include "daemon/state/state_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace vitals {

class metrics;

class state_keeper {
public:
  state_keeper(boost::asio::io_context& io, boost::asio::thread_pool& pool, metrics& m);
  ~state_keeper();
  state_keeper(const state_keeper&) = delete;
  state_keeper& operator=(const state_keeper&) = delete;

  // Opens the store on the pool and loads it: returns the alerts saved by
  // the previous run (empty when there are none or the store fails).
  boost::asio::awaitable<std::vector<saved_alert>> open(std::string path, retention keep);

  void set_retention(retention keep);

  // Logs a new incident for an alert that started firing; returns its id.
  std::int64_t open_incident(const alerts::alert_instance& a, std::string evidence_json,
                             alerts::wall_clock::time_point at);
  void resolve_incident(std::int64_t id, alerts::wall_clock::time_point at);

  // Writes the active alerts and every incident changed since the last
  // write, in the background. A write already running is followed by one
  // more with the latest state; nothing waits for it.
  void save(std::vector<saved_alert> active);

  // History aggregates to write with the next write (probe_history.hpp).
  void record_history(std::vector<history_row> rows);

  // What open() read of the run history (probe_history::restore takes it);
  // empty after the first call.
  std::vector<history_row> take_restored_history();

  // The aggregates of `probe` at `step` from `since` on, oldest first: what
  // the file holds and what still waits to be written. Read on the pool
  // between writes; `done` runs on the loop. `complete` is false when the
  // file could not be read (then only what waits is there).
  struct history_answer {
    bool complete = true;
    std::string problem;
    std::vector<history_bucket> buckets;
  };
  void read_history(std::string probe, std::chrono::seconds step, alerts::wall_clock::time_point since,
                    std::function<void(history_answer)> done) const;

  // Waits (at most `limit`) until what was saved is written.
  boost::asio::awaitable<void> flush(std::chrono::milliseconds limit);

  // Incidents open or resolved at or after `since`: the newest `limit`,
  // oldest first (from memory).
  std::vector<incident> incidents(alerts::wall_clock::time_point since,
                                  std::size_t limit = static_cast<std::size_t>(-1)) const;

  bool healthy() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// The evidence a probe's last run left, as stored with an incident: a JSON
// object {probe, kind, target, checked_at, reason, cause, evidence: {...}}.
std::string evidence_json(const std::string& probe, const std::string& kind, const std::string& target,
                          alerts::wall_clock::time_point checked_at, const std::string& reason,
                          const std::string& cause, const std::vector<std::pair<std::string, std::string>>& items);

// The same, as the text of an alert's `evidence` annotation: "cause: …" and
// one "key: value" line per item.
std::string evidence_text(const std::string& cause, const std::vector<std::pair<std::string, std::string>>& items);

// GET /api/v1/incidents and `vitalsd incidents --json`.
std::string incidents_json(const std::vector<incident>& list);

}  // namespace vitals
