#pragma once

// The postgres probe's statistics query and what it reads from the result.
// One statement, one function scan of pg_stat_get_activity(NULL) (not the
// pg_stat_activity view, whose joins and columns cost more to parse and
// plan than the scan itself), and pg_blocking_pids() only for the sessions
// waiting on a lock. Pure: no I/O; the text goes through pg_connection.

#include <libpq-fe.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace vitals {

// What one statistics query saw: client backends only, the probe's own
// session excluded.
struct pg_activity {
  // Sessions by state: active, idle, idle in transaction, idle in
  // transaction (aborted), other.
  std::array<double, 5> by_state{};
  double idle_in_transaction_max_seconds = 0;
  double longest_query_seconds = 0;
  double max_connections = 0;  // usable by ordinary roles

  struct session {
    bool active = false;  // else idle in transaction
    std::string text;     // "pid 4242, user app, …: SELECT …"
  };
  std::vector<session> sessions;      // the 5 oldest active, then the 5 longest idle in transaction
  std::vector<std::string> blocked;   // "pid 4242 blocked by 4250, 4251", by pid
};

// The query for a server of `server_version` (PQserverVersion). Parallel
// workers are matched to their leader through leader_pid from PostgreSQL
// 13 on; before it only the leaders' own lock waits are seen.
std::string pg_activity_sql(int server_version);

// Reads the query's result; nullopt when its shape is not the expected one.
std::optional<pg_activity> read_pg_activity(const PGresult* result);

}  // namespace vitals
