#pragma once

// The state keeper's write-behind, as a plan with no I/O: what changed since
// the last successful write, coalesced so that one write (or read) runs at
// a time and the next carries the latest version of everything; when the
// file must be read first; when retention runs; and whether the store
// works. The keeper runs each step on the pool and reports back. Not
// thread-safe: the loop thread only.

#include "daemon/state/state_store.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace vitals {

class write_plan {
public:
  // How often a successful write also applies retention to the file.
  static constexpr auto prune_every = std::chrono::hours(1);

  // --- Changes to write ---------------------------------------------------
  // An incident opened or changed: its latest version is what gets written.
  void incident_changed(const incident& i);
  // An incident no longer in the log (trimmed) but still waiting to be
  // written takes its resolution here; nothing when none waits.
  void resolve_waiting(std::int64_t id, alerts::wall_clock::time_point at);
  // The active alerts, replacing the saved ones at the next write.
  void alerts_changed(std::vector<saved_alert> active);
  // The saved alerts are written again even if they did not change.
  void rewrite_alerts() { alerts_dirty_ = true; }
  // History aggregates closed (or written open at a stop): the latest
  // version of each (probe, step, start) is written.
  void history_closed(std::vector<history_row> rows);
  // Those still waiting for `probe` at `step` from `since_ms` on: a read
  // of the file (which runs only between writes) lacks them.
  std::vector<history_bucket> history_waiting(const std::string& probe, std::int32_t step_s,
                                              std::int64_t since_ms) const;
  // While the store fails, changes pile up: at most `max_incidents` wait,
  // the oldest resolved ones go first; at most max_history_waiting history
  // rows, the minutes going first. Nothing while it works.
  static constexpr std::size_t max_history_waiting = 100'000;
  void bound_while_failing(std::size_t max_incidents);

  // --- What to run next ---------------------------------------------------
  enum class step {
    none,   // a read or write runs, or nothing changed
    read,   // the file was never read: read it before anything is written
    write,  // start_write()
  };
  step next() const;

  // A read of the file starts and ends. Until one succeeds nothing is
  // written: a write would replace saved alerts nobody has read. A failed
  // read marks the store failing; returns true when that is a change.
  void read_started() { reading_ = true; }
  bool read_finished(bool ok);

  // Retention ran (with the read at start): the next is due prune_every later.
  void pruned_at(alerts::wall_clock::time_point at) { last_prune_ = at; }

  struct write_job {
    std::vector<saved_alert> alerts;
    std::vector<incident> incidents;  // by id
    std::vector<history_row> history;
    bool prune = false;               // apply retention after the write
    alerts::wall_clock::time_point now;
  };
  // Takes every waiting change into one write. Only when next() == write.
  write_job start_write(alerts::wall_clock::time_point now);
  // The write ended. A failed one's incidents wait again (unless a newer
  // version already does) and the alerts are written again. Returns true
  // when the store's health changed.
  bool write_finished(write_job job, bool ok);
  // The file was deleted, replaced or emptied under the store: it is read
  // again before anything is written (a file put in its place may hold what
  // must not be overwritten unseen), then the alerts are written again and
  // the keeper gives the plan every incident it holds. Marks the store
  // failing; true when that is a change.
  bool file_lost();

  // --- State --------------------------------------------------------------
  bool busy() const { return reading_ || writing_; }
  bool read_once() const { return read_; }
  bool healthy() const { return healthy_; }
  // Records whether the store works; true when that is a change.
  bool set_healthy(bool ok);
  std::size_t waiting_incidents() const { return waiting_.size(); }
  std::size_t waiting_history() const { return history_.size(); }

private:
  std::map<std::int64_t, incident> waiting_;  // changed since the last successful write
  std::vector<saved_alert> alerts_;
  // By probe, step and start: a later version of one aggregate replaces the earlier.
  std::map<std::tuple<std::string, std::int32_t, std::int64_t>, history_row> history_;
  bool alerts_dirty_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool read_ = false;
  bool healthy_ = true;
  alerts::wall_clock::time_point last_prune_{};
};

}  // namespace vitals
