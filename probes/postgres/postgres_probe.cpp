#include "probes/postgres/postgres_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/units.hpp"
#include "probes/net/host_addresses.hpp"
#include "probes/net/resolve.hpp"
#include "probes/postgres/pg_errors.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace vitals {

namespace {

using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr metric_info postgres_metrics[] = {
    {"vitals_postgres_connections",
     "Client sessions by state (active, idle, idle_in_transaction, idle_in_transaction_aborted, other), "
     "excluding the probe's own.",
     metric_kind::gauge},
    {"vitals_postgres_max_connections",
     "Connections available to ordinary roles: max_connections minus superuser_reserved_connections "
     "and reserved_connections.",
     metric_kind::gauge},
    {"vitals_postgres_connections_utilization_ratio",
     "Client sessions (excluding the probe's own) divided by vitals_postgres_max_connections.", metric_kind::gauge},
    {"vitals_postgres_idle_in_transaction_max_seconds",
     "Longest time a session has been idle inside a transaction; 0 when none is.", metric_kind::gauge},
    {"vitals_postgres_longest_query_seconds", "Age of the oldest running query (state active); 0 when none runs.",
     metric_kind::gauge},
    {"vitals_postgres_blocked_queries", "Sessions waiting for a lock held by another session.", metric_kind::gauge},
    {"vitals_postgres_database_size_bytes", "pg_database_size() of the database the probe connects to.",
     metric_kind::gauge},
    {"vitals_postgres_connect_seconds", "Duration of the probe's last (re)connect, including authentication.",
     metric_kind::gauge},
};

// Sessions of each kind listed in the evidence.
constexpr int evidence_sessions = 5;

// One simple-protocol query string, three statements, one round trip. They
// run in one implicit transaction, so all three read the same snapshot of
// pg_stat_activity. Only client backends count (not autovacuum, WAL
// senders, ...), and never the probe's own session. Ages are clamped at 0:
// now() is the transaction start, which a session may have overtaken.
constexpr const char* stats_sql = R"SQL(
SELECT
  count(*) FILTER (WHERE state = 'active'),
  count(*) FILTER (WHERE state = 'idle'),
  count(*) FILTER (WHERE state = 'idle in transaction'),
  count(*) FILTER (WHERE state = 'idle in transaction (aborted)'),
  count(*) FILTER (WHERE state IS NULL OR state NOT IN
                   ('active', 'idle', 'idle in transaction', 'idle in transaction (aborted)')),
  greatest(coalesce(extract(epoch FROM max(now() - state_change)
                            FILTER (WHERE state LIKE 'idle in transaction%')), 0), 0)::float8,
  greatest(coalesce(extract(epoch FROM max(now() - query_start) FILTER (WHERE state = 'active')), 0), 0)::float8,
  current_setting('max_connections')::int
    - current_setting('superuser_reserved_connections')::int
    - coalesce(current_setting('reserved_connections', true)::int, 0),
  pg_database_size(current_database())
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid();

SELECT kind, pid, coalesce(usename::text, ''), coalesce(application_name, ''),
       coalesce(host(client_addr), 'local'), coalesce(state, ''),
       greatest(coalesce(extract(epoch FROM now() - since), 0), 0)::float8,
       coalesce(wait_event_type || '/' || wait_event, ''),
       left(regexp_replace(coalesce(query, ''), '[[:space:]]+', ' ', 'g'), 200)
FROM (
  (SELECT 'active' AS kind, a.*, a.query_start AS since FROM pg_stat_activity a
   WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state = 'active'
   ORDER BY query_start NULLS LAST LIMIT 5)
  UNION ALL
  (SELECT 'idle_in_transaction', a.*, a.state_change FROM pg_stat_activity a
   WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'
   ORDER BY state_change NULLS LAST LIMIT 5)
) s;

SELECT pid, array_to_string(blockers, ', ')
FROM (SELECT pid, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()) s
WHERE cardinality(blockers) > 0
ORDER BY pid;
)SQL";

// ---------------------------------------------------------------------------
// Name resolution.

// ---------------------------------------------------------------------------
// Reading results.

double number_at(const PGresult* r, int row, int column) {
  if (::PQgetisnull(r, row, column)) return 0;
  return std::strtod(::PQgetvalue(r, row, column), nullptr);
}

std::string text_at(const PGresult* r, int row, int column) {
  if (::PQgetisnull(r, row, column)) return {};
  return ::PQgetvalue(r, row, column);
}


// "pid 4242, user alice, application psql, client 127.0.0.1, state active,
//  age 12.3s, wait Timeout/PgSleep: SELECT pg_sleep(30)"
std::string session_text(const PGresult* r, int row) {
  std::string text = "pid " + text_at(r, row, 1);
  auto add = [&](const char* label, const std::string& value) {
    if (!value.empty()) text += std::string(", ") + label + " " + value;
  };
  add("user", text_at(r, row, 2));
  add("application", text_at(r, row, 3));
  add("client", text_at(r, row, 4));
  add("state", text_at(r, row, 5));
  add("age", format_age(number_at(r, row, 6)));
  add("wait", text_at(r, row, 7));
  const auto query = text_at(r, row, 8);
  if (!query.empty()) text += ": " + query;
  return text;
}

bool statement_ok(const PGresult* r) { return ::PQresultStatus(r) == PGRES_TUPLES_OK; }

}  // namespace

// ---------------------------------------------------------------------------
// The probe.

postgres_probe::postgres_probe(settings s, const probe_context& ctx)
    : settings_(std::move(s)), ctx_(&ctx), connection_(ctx.loop()) {}

std::span<const metric_info> postgres_probe::metrics() { return postgres_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert postgres_alerts[] = {
    {"PostgresConnectionsHigh", "vitals_postgres_connections_utilization_ratio > {}", 0.8, 2min, "high",
     "PostgreSQL {{ $labels.probe }} uses {{ $value | humanizePercentage }} of max_connections",
     "Client sessions of {{ $labels.probe }} are close to max_connections; new connections will be refused."},
    {"PostgresIdleInTransaction", "vitals_postgres_idle_in_transaction_max_seconds > {}", 600, 0ms, "medium",
     "a session on {{ $labels.probe }} is idle in a transaction",
     "A session of {{ $labels.probe }} has been idle in a transaction for {{ $value | humanizeDuration }}."},
    {"PostgresLongQuery", "vitals_postgres_longest_query_seconds > {}", 300, 0ms, "medium",
     "a query on {{ $labels.probe }} has run for {{ $value | humanizeDuration }}",
     "The longest running query of {{ $labels.probe }} has been running for {{ $value | humanizeDuration }}."},
};

}  // namespace

std::span<const builtin_alert> postgres_probe::alerts() { return postgres_alerts; }

std::string postgres_probe::target() const {
  std::string host = settings_.host.empty() ? settings_.hostaddr : settings_.host;
  if (host.find(':') != std::string::npos && host.front() != '/') host = "[" + host + "]";
  return host + ":" + settings_.port + "/" + settings_.dbname;
}

asio::awaitable<std::optional<probe_result>> postgres_probe::connect() {
  pg_params params = settings_.params;
  auto set = [&](const std::string& key, std::string value) {
    auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == key; });
    if (it == params.end())
      params.emplace_back(key, std::move(value));
    else
      it->second = std::move(value);
  };
  auto has = [&](const std::string& key) {
    return std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == key; });
  };

  const auto& host = settings_.host;
  if (settings_.hostaddr.empty() && !host.empty() && host.front() != '/' && host.front() != '@') {
    if (parse_ip(host)) {
      set("hostaddr", host);
    } else {
      const auto found = co_await resolve_host(host);
      if (found.error || found.addresses.empty())
        co_return probe_result::failure(
            "resolve", "cannot resolve " + host + ": " + (found.error ? found.error.message() : "no address"));
      // libpq tries each address in turn (at most 4); host names them all
      // the same, for TLS verification and messages.
      std::string hosts;
      std::string addresses;
      for (std::size_t i = 0; i < found.addresses.size() && i < 4; ++i) {
        hosts += (i ? "," : "") + host;
        addresses += (i ? "," : "") + found.addresses[i].to_string();
      }
      set("host", hosts);
      set("hostaddr", addresses);
    }
  }
  set("port", settings_.port);
  if (!settings_.password.empty()) set("password", settings_.password);
  if (!has("application_name")) set("application_name", "vitalsd");
  // The server stops a query of ours that outlives the probe's deadline;
  // the probe then only has to drop the connection.
  std::string options = "-c statement_timeout=" + std::to_string(settings_.statement_timeout.count());
  for (const auto& [k, v] : params)
    if (k == "options" && !v.empty()) options = v + " " + options;
  set("options", options);
  set("client_encoding", "UTF8");
  // GSSAPI encryption is tried first by default and looks for Kerberos
  // credentials; off unless asked for.
  if (!has("gssencmode")) set("gssencmode", "disable");

  const auto started = clock::now();
  const std::string error = co_await connection_.async_connect(params);
  if (!error.empty()) {
    auto f = describe_pg_error(error, settings_.password);
    co_return probe_result::failure(std::move(f.reason), std::move(f.error));
  }
  connect_seconds_ = std::chrono::duration<double>(clock::now() - started).count();
  co_return std::nullopt;
}

asio::awaitable<probe_result> postgres_probe::run() {
  const bool reused = connection_.is_open();
  if (!reused)
    if (auto failed = co_await connect()) co_return std::move(*failed);

  auto outcome = co_await connection_.async_query(stats_sql);
  if (!outcome.error.empty() && reused) {
    // The kept connection died since the last run (server restart, idle
    // timeout, terminated backend): one fresh connection, same run.
    if (auto failed = co_await connect()) co_return std::move(*failed);
    outcome = co_await connection_.async_query(stats_sql);
  }
  if (!outcome.error.empty()) {
    auto f = describe_pg_error(outcome.error, settings_.password);
    co_return probe_result::failure(std::move(f.reason), std::move(f.error));
  }

  // A failed statement ends the query string: later statements did not run.
  for (const auto& r : outcome.results) {
    if (statement_ok(r.get())) continue;
    const char* sqlstate = ::PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    const std::string message = pg_error_line(::PQresultErrorMessage(r.get()), settings_.password);
    if (sqlstate != nullptr && std::string_view(sqlstate) == "57014")
      co_return probe_result::failure(
          "timeout", "query cancelled by statement_timeout (" +
                         format_duration(settings_.statement_timeout) + "): " + message);
    co_return probe_result::failure("query", "query failed: " + message);
  }
  if (outcome.results.size() != 3 || ::PQntuples(outcome.results[0].get()) != 1 ||
      ::PQnfields(outcome.results[0].get()) != 9 || ::PQnfields(outcome.results[1].get()) != 9 ||
      ::PQnfields(outcome.results[2].get()) != 2)
    co_return probe_result::failure("protocol", "unexpected result shape from the statistics query");

  const PGresult* summary = outcome.results[0].get();
  const PGresult* sessions = outcome.results[1].get();
  const PGresult* blocked = outcome.results[2].get();

  probe_result result = probe_result::success();
  static constexpr const char* states[] = {"active", "idle", "idle_in_transaction", "idle_in_transaction_aborted",
                                           "other"};
  double clients = 0;
  for (int i = 0; i < 5; ++i) {
    const double n = number_at(summary, 0, i);
    clients += n;
    result.samples.push_back({"vitals_postgres_connections", {{"state", states[i]}}, n});
  }
  const double max_connections = number_at(summary, 0, 7);
  result.samples.push_back({"vitals_postgres_max_connections", {}, max_connections});
  result.samples.push_back(
      {"vitals_postgres_connections_utilization_ratio", {}, max_connections > 0 ? clients / max_connections : 0});
  result.samples.push_back({"vitals_postgres_idle_in_transaction_max_seconds", {}, number_at(summary, 0, 5)});
  result.samples.push_back({"vitals_postgres_longest_query_seconds", {}, number_at(summary, 0, 6)});
  const int blocked_count = ::PQntuples(blocked);
  result.samples.push_back({"vitals_postgres_blocked_queries", {}, static_cast<double>(blocked_count)});
  result.samples.push_back({"vitals_postgres_database_size_bytes", {}, number_at(summary, 0, 8)});
  result.samples.push_back({"vitals_postgres_connect_seconds", {}, connect_seconds_});

  result.evidence.emplace_back(
      "connections", std::to_string(static_cast<long long>(clients)) + " of " +
                         std::to_string(static_cast<long long>(max_connections)) + " (active " +
                         std::to_string(static_cast<long long>(number_at(summary, 0, 0))) + ", idle in transaction " +
                         std::to_string(static_cast<long long>(number_at(summary, 0, 2) + number_at(summary, 0, 3))) +
                         ")");
  for (int row = 0; row < ::PQntuples(sessions); ++row) {
    const bool active = text_at(sessions, row, 0) == "active";
    result.evidence.emplace_back(active ? "active query" : "idle in transaction", session_text(sessions, row));
  }
  for (int row = 0; row < blocked_count && row < evidence_sessions * 2; ++row)
    result.evidence.emplace_back("blocked",
                                 "pid " + text_at(blocked, row, 0) + " blocked by " + text_at(blocked, row, 1));
  co_return result;
}

// ---------------------------------------------------------------------------
// Configuration.

namespace {

struct conninfo_deleter {
  void operator()(PQconninfoOption* o) const { ::PQconninfoFree(o); }
};

bool valid_port(const std::string& text) {
  int port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && end == text.data() + text.size() && port >= 1 && port <= 65535;
}

// Fills `s` from a libpq connection string, except the password, which
// goes to `password`. Returns what is wrong with it, empty when usable.
// PQconninfoParse's messages quote pieces of the string, which may be a
// password: they are shown only when it is not `secret`.
std::string take_conninfo(const std::string& text, bool secret, postgres_probe::settings& s, std::string& password) {
  char* raw_error = nullptr;
  std::unique_ptr<PQconninfoOption, conninfo_deleter> options(::PQconninfoParse(text.c_str(), &raw_error));
  if (!options) {
    std::string why = raw_error ? raw_error : "out of memory";
    if (raw_error) ::PQfreemem(raw_error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return secret ? "is not a valid libpq connection string (details hidden: it holds a password)"
                  : "is not a valid libpq connection string: " + why;
  }
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string key = o->keyword;
    const std::string value = o->val;
    if (key == "password") {
      password = value;
      continue;
    }
    if (key == "host") s.host = value;
    if (key == "hostaddr") s.hostaddr = value;
    if (key == "port") s.port = value;
    if (key == "dbname") s.dbname = value;
    if (key == "user" && s.dbname.empty()) s.dbname = value;  // libpq's default database
    if (key != "port") s.params.emplace_back(key, value);
  }
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o)
    if (o->val != nullptr && std::string_view(o->keyword) == "dbname") s.dbname = o->val;
  if (s.host.empty() && s.hostaddr.empty())
    return "needs host= (a host name, an IP address or a unix socket directory) or hostaddr=";
  if (s.host.find(',') != std::string::npos || s.hostaddr.find(',') != std::string::npos ||
      s.port.find(',') != std::string::npos)
    return "lists several hosts; use one probe per server";
  if (!valid_port(s.port))
    return "port=" + (secret ? std::string("<redacted>") : s.port) + " is not a valid port (1-65535)";
  if (!s.hostaddr.empty() && !parse_ip(s.hostaddr)) return "hostaddr= must be an IP address";
  return {};
}

}  // namespace

probe_builder postgres_probe::create(const probe_settings& common, node_reader& r) {
  settings s;
  std::string password_in_conninfo;
  if (std::string text; r.read_required("conninfo", text)) {
    const bool secret = r.is_secret("conninfo") || text.find("password") != std::string::npos;
    if (auto problem = take_conninfo(text, secret, s, password_in_conninfo); !problem.empty())
      r.error("conninfo", problem);
  }
  r.read("password", s.password);
  if (s.password.empty()) s.password = password_in_conninfo;

  // Below the scheduler's deadline, so the server gives up on our query
  // about when we stop waiting for it.
  s.statement_timeout = std::max(std::chrono::milliseconds(1),
                                 std::chrono::milliseconds(common.timeout.count() * 8 / 10));

  if (r.failed()) return {};
  return [s = std::move(s)](const probe_context& ctx) { return std::make_unique<postgres_probe>(s, ctx); };
}

}  // namespace vitals
