#pragma once

// The incident log in memory, as the API serves it: ids, opening and
// resolving, the store's retention rule, and taking in what a read of the
// file found. Pure: every time is passed in. Not thread-safe: the loop
// thread only.

#include "daemon/state/state_store.hpp"

#include <cstdint>
#include <deque>
#include <set>
#include <vector>

namespace vitals {

class incident_log {
public:
  // Logs a new incident for an alert that started firing at `at`, with the
  // next id; the severity and labels (but alertname and severity) come
  // from the alert.
  const incident& open(const alerts::alert_instance& a, std::string evidence_json, alerts::wall_clock::time_point at);

  // The incident with this id while it is in memory, else null.
  incident* find(std::int64_t id);

  // New ids are at least `id` from now on.
  void next_id_at_least(std::int64_t id);

  // The store's retention rule, in memory: incidents resolved longer than
  // keep.max_age ago go, then the oldest resolved beyond keep.max_incidents.
  // Open incidents always stay, however old or many.
  void trim(const retention& keep, alerts::wall_clock::time_point now);

  // Takes in what a read of the file found. Where both have an incident,
  // this run's version wins; ids continue after `max_stored_id`.
  void merge(std::vector<incident> stored, std::int64_t max_stored_id);

  // Open incidents and those resolved at or after `since`: the newest
  // `limit`, oldest first.
  std::vector<incident> recent(alerts::wall_clock::time_point since,
                               std::size_t limit = static_cast<std::size_t>(-1)) const;

  std::set<std::int64_t> ids() const;
  std::size_t size() const { return log_.size(); }

private:
  std::deque<incident> log_;  // by id, oldest first
  std::int64_t next_id_ = 1;
};

// A file read only after this run began (it was unreadable at start): its
// alerts were not restored, so the incidents it holds open — except those
// this run logged itself (`ours`) — have no alert left to close them. Closes
// them at `now` in `stored` and returns the closed ones, to be written.
std::vector<incident> close_orphans(std::vector<incident>& stored, const std::set<std::int64_t>& ours,
                                    alerts::wall_clock::time_point now);

}  // namespace vitals
