#pragma once

// The SQLite state store (`state.path`): the alerts that were pending or
// firing, so a restart neither re-fires nor forgets them, and the incident
// log. Blocking: the daemon calls it from one pool thread at a time, never
// from the loop; `vitalsd incidents` reads it directly.

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/state/probe_history.hpp"
#include "daemon/state/state_file.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace vitals {

// One alert that fired: opened when it starts firing, closed when it resolves.
struct incident {
  std::int64_t id = 0;
  std::string alertname;
  std::string severity;
  alerts::labels labels;
  alerts::wall_clock::time_point started;
  std::optional<alerts::wall_clock::time_point> resolved;
  std::string summary;
  std::string runbook_url;
  std::string evidence_json;  // a JSON object captured when it started firing
};

struct retention {
  std::chrono::milliseconds max_age{30LL * 24 * 3600 * 1000};
  std::size_t max_incidents = 10'000;
  // Run history: each tier is kept for the shorter of this and its own
  // limit (history_tiers).
  std::chrono::milliseconds history_max_age{7LL * 24 * 3600 * 1000};
};

// A saved alert and the expression its rule had, so a changed rule's
// instances are not brought back.
struct saved_alert {
  alerts::alert_instance alert;
  std::string expr;
};

class state_store {
public:
  enum class mode { read_write, read_only };

  // Opens (read_write: creating, switching to WAL and migrating) the file.
  // Never throws: when it cannot, problem() says why and every call fails
  // until a later call manages to open it.
  explicit state_store(std::string path, mode m = mode::read_write);
  ~state_store();
  state_store(const state_store&) = delete;
  state_store& operator=(const state_store&) = delete;

  // The schema version this build writes; a file with a higher one (from a
  // newer vitalsd) is refused rather than damaged.
  static constexpr int schema_version = 2;

  // Open and usable: retries the open when it is not. Every call checks
  // first that the file it has open is still the one at path() (device and
  // inode) and not emptied; when it is not, the connection is given up and
  // lost_file() says so. A file that exists but is empty (0 bytes) is
  // refused like one that cannot be read: a state file always has its
  // header, so an empty one was truncated, and a new schema would hide that.
  bool ok();
  const std::string& problem() const { return problem_; }
  const std::string& path() const { return path_; }

  // The last call found the file deleted, replaced by another or emptied
  // while open: what was written to it is gone from path(), so the caller
  // writes everything it holds again (to whatever is at path() once that
  // can be read). Reset by every call.
  bool lost_file() const { return lost_; }

  std::optional<std::vector<saved_alert>> load_alerts();
  // Every open incident and the `limit` newest that resolved at or after
  // `since`, oldest first.
  std::optional<std::vector<incident>> load_incidents(alerts::wall_clock::time_point since, std::size_t limit);

  // The highest incident id ever stored (0 when none): new ids count on from it.
  std::optional<std::int64_t> max_incident_id();

  // Replaces the saved alerts with `active` and writes `incidents` (insert
  // or update by id), in one transaction. A failed write closes the
  // connection, so the next call starts from a fresh open, and makes the
  // next write checkpoint and truncate the WAL first: after a full disk the
  // WAL may hold all the room there was, and would fill it again.
  // `history` rows replace any stored ones of the same probe, step and
  // start (an aggregate written open at a stop is written again closed).
  bool save(const std::vector<saved_alert>& active, const std::vector<incident>& incidents,
            const std::vector<history_row>& history = {});

  // The aggregates of `probe` at `step` that started at or after `since`,
  // oldest first.
  std::optional<std::vector<history_bucket>> load_history(const std::string& probe, std::chrono::seconds step,
                                                          alerts::wall_clock::time_point since);
  // What a start takes back (probe_history::restore): the minutes of the
  // last hour, the hours of the last week and every tier's aggregate of now.
  std::optional<std::vector<history_row>> load_recent_history(alerts::wall_clock::time_point now);

  // Deletes incidents resolved longer than max_age ago, then the oldest
  // resolved ones beyond max_incidents; open incidents always stay; and
  // history aggregates older than their tier keeps. Returns how many
  // incidents went, or nullopt on failure.
  std::optional<std::size_t> prune(const retention& keep, alerts::wall_clock::time_point now);

private:
  bool open();
  bool migrate();
  bool still_at_path();
  bool cut_wal();
  bool exec(const char* sql);
  // A prepared statement, or null with problem() saying `what` failed.
  std::unique_ptr<sqlite3_stmt, void (*)(sqlite3_stmt*)> prepare(const char* sql, const std::string& what);
  bool fail(const std::string& what);
  bool abandon();
  void close();

  std::string path_;
  std::string shown_;  // path_ as messages quote it
  mode mode_;
  sqlite3* db_ = nullptr;
  file_id opened_;       // the file db_ has open
  wal_files companions_;  // and its WAL and shared memory
  std::string problem_;
  bool lost_ = false;
  bool wal_needs_cut_ = false;  // a write failed since the WAL was last truncated
  // history_probes as far as this connection has seen it: name -> id, kind.
  std::map<std::string, std::pair<std::int64_t, std::string>, std::less<>> history_ids_;
  std::optional<std::int64_t> history_id(const std::string& probe, const std::string& kind);
};

// Labels as a JSON object and back (the store's and the API's spelling).
std::string labels_json(const alerts::labels& l);
alerts::labels labels_from_json(const std::string& text);

}  // namespace vitals
