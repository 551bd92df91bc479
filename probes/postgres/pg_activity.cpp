#include "probes/postgres/pg_activity.hpp"

#include "probes/core/units.hpp"

#include <cstdlib>

namespace vitals {

namespace {

// Every client backend but ours, read once (MATERIALIZED: one function
// scan), with the parallel workers that may wait on a lock for a leader.
// Each detail row carries the one-row summary beside it, so an empty
// server still yields one row. Ages are clamped at 0: now() is the
// transaction start, which a session may have overtaken.
constexpr const char* activity_sql_head = R"SQL(
WITH sessions AS MATERIALIZED (
  SELECT pid, backend_type, LEADER usesysid, application_name, client_addr, state, wait_event_type, wait_event,
         query, query_start, state_change
  FROM pg_stat_get_activity(NULL)
  WHERE backend_type IN ('client backend', 'parallel worker') AND pid <> pg_backend_pid()
), clients AS (
  SELECT * FROM sessions WHERE backend_type = 'client backend'
), summary AS (
  SELECT
    count(*) FILTER (WHERE state = 'active') AS active,
    count(*) FILTER (WHERE state = 'idle') AS idle,
    count(*) FILTER (WHERE state = 'idle in transaction') AS idle_in_transaction,
    count(*) FILTER (WHERE state = 'idle in transaction (aborted)') AS idle_in_transaction_aborted,
    count(*) FILTER (WHERE state IS NULL OR state NOT IN
                     ('active', 'idle', 'idle in transaction', 'idle in transaction (aborted)')) AS other,
    greatest(coalesce(extract(epoch FROM max(now() - state_change)
                              FILTER (WHERE state LIKE 'idle in transaction%')), 0), 0)::float8 AS idle_max,
    greatest(coalesce(extract(epoch FROM max(now() - query_start) FILTER (WHERE state = 'active')), 0), 0)::float8
      AS longest_query,
    current_setting('max_connections')::int
      - current_setting('superuser_reserved_connections')::int
      - coalesce(current_setting('reserved_connections', true)::int, 0) AS max_connections
  FROM clients
), waiting AS (
  SELECT pid FROM clients WHERE wait_event_type = 'Lock'
)SQL";

// pg_blocking_pids() of a leader also names whoever blocks its workers.
constexpr const char* workers_waiting_sql = R"SQL(
  UNION
  SELECT leader_pid FROM sessions WHERE backend_type = 'parallel worker' AND wait_event_type = 'Lock'
)SQL";

constexpr const char* activity_sql_tail = R"SQL(
), details AS (
  (SELECT 1 AS rank, row_number() OVER (ORDER BY query_start NULLS LAST) AS position, 'active' AS kind,
          pid, usesysid, application_name, client_addr, state, wait_event_type, wait_event, query,
          query_start AS since, NULL::int[] AS blockers
   FROM clients WHERE state = 'active' ORDER BY query_start NULLS LAST LIMIT 5)
  UNION ALL
  (SELECT 2, row_number() OVER (ORDER BY state_change NULLS LAST), 'idle_in_transaction',
          pid, usesysid, application_name, client_addr, state, wait_event_type, wait_event, query,
          state_change, NULL
   FROM clients WHERE state LIKE 'idle in transaction%' ORDER BY state_change NULLS LAST LIMIT 5)
  UNION ALL
  SELECT 3, pid, 'blocked', pid, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, blockers
  FROM (SELECT pid, pg_blocking_pids(pid) AS blockers FROM waiting WHERE pid IN (SELECT pid FROM clients)) b
  WHERE cardinality(blockers) > 0
)
SELECT s.active, s.idle, s.idle_in_transaction, s.idle_in_transaction_aborted, s.other,
       s.idle_max, s.longest_query, s.max_connections,
       d.kind, d.pid, coalesce(pg_get_userbyid(d.usesysid)::text, ''), coalesce(d.application_name, ''),
       coalesce(host(d.client_addr), 'local'), coalesce(d.state, ''),
       greatest(coalesce(extract(epoch FROM now() - d.since), 0), 0)::float8,
       coalesce(d.wait_event_type || '/' || d.wait_event, ''),
       left(regexp_replace(coalesce(d.query, ''), '[[:space:]]+', ' ', 'g'), 200),
       coalesce(array_to_string(d.blockers, ', '), '')
FROM summary s LEFT JOIN details d ON true
ORDER BY d.rank, d.position
)SQL";

constexpr int summary_columns = 8;
constexpr int columns = 18;
enum column { kind = 8, pid, user, application, client, state, age, wait, query, blockers };

double number_at(const PGresult* r, int row, int col) {
  if (::PQgetisnull(r, row, col)) return 0;
  return std::strtod(::PQgetvalue(r, row, col), nullptr);
}

std::string text_at(const PGresult* r, int row, int col) {
  if (::PQgetisnull(r, row, col)) return {};
  return ::PQgetvalue(r, row, col);
}

// "pid 4242, user alice, application psql, client 127.0.0.1, state active,
//  age 12.3s, wait Timeout/PgSleep: SELECT pg_sleep(30)"
std::string session_text(const PGresult* r, int row) {
  std::string text = "pid " + text_at(r, row, pid);
  auto add = [&](const char* label, const std::string& value) {
    if (!value.empty()) text += std::string(", ") + label + " " + value;
  };
  add("user", text_at(r, row, user));
  add("application", text_at(r, row, application));
  add("client", text_at(r, row, client));
  add("state", text_at(r, row, state));
  add("age", format_age(number_at(r, row, age)));
  add("wait", text_at(r, row, wait));
  const auto sql = text_at(r, row, query);
  if (!sql.empty()) text += ": " + sql;
  return text;
}

}  // namespace

std::string pg_activity_sql(int server_version) {
  const bool leader_pid = server_version >= 130000;
  std::string sql = activity_sql_head;
  sql.replace(sql.find("LEADER "), 7, leader_pid ? "leader_pid, " : "");
  if (leader_pid) sql += workers_waiting_sql;
  return sql + activity_sql_tail;
}

std::optional<pg_activity> read_pg_activity(const PGresult* r) {
  if (::PQresultStatus(r) != PGRES_TUPLES_OK || ::PQnfields(r) != columns || ::PQntuples(r) < 1) return std::nullopt;
  pg_activity out;
  for (int i = 0; i < 5; ++i) out.by_state[i] = number_at(r, 0, i);
  out.idle_in_transaction_max_seconds = number_at(r, 0, 5);
  out.longest_query_seconds = number_at(r, 0, 6);
  out.max_connections = number_at(r, 0, summary_columns - 1);
  for (int row = 0; row < ::PQntuples(r); ++row) {
    const std::string what = text_at(r, row, kind);
    if (what == "active" || what == "idle_in_transaction")
      out.sessions.push_back({what == "active", session_text(r, row)});
    else if (what == "blocked")
      out.blocked.push_back("pid " + text_at(r, row, pid) + " blocked by " + text_at(r, row, blockers));
  }
  return out;
}

}  // namespace vitals
