#include "probes/postgres/postgres_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/units.hpp"
#include "probes/net/host_addresses.hpp"
#include "probes/net/resolve.hpp"
#include "probes/postgres/pg_activity.hpp"
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

// Blocked sessions listed in the evidence.
constexpr std::size_t evidence_blocked = 10;

// pg_database_size() stats every file of the database, which costs more
// than the rest of a run together: read at most this often.
constexpr auto database_size_max_age = std::chrono::seconds(60);
constexpr const char* database_size_sql = "SELECT pg_database_size(current_database())";
// The statistics statement's name in the probe's session.
constexpr const char* activity_statement = "probe_activity";

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
    {"PostgresConnectionsHigh", "last_over_time(vitals_postgres_connections_utilization_ratio[{hold}]) > {}", 0.8, 2min, "high",
     "PostgreSQL {{ $labels.probe }} uses {{ $value | humanizePercentage }} of max_connections",
     "Client sessions of {{ $labels.probe }} are close to max_connections; new connections will be refused.",
     threshold_unit::ratio},
    {"PostgresIdleInTransaction", "last_over_time(vitals_postgres_idle_in_transaction_max_seconds[{hold}]) > {}", 600, 0ms, "medium",
     "a session on {{ $labels.probe }} is idle in a transaction",
     "A session of {{ $labels.probe }} has been idle in a transaction for {{ $value | humanizeDuration }}.",
     threshold_unit::seconds},
    {"PostgresLongQuery", "last_over_time(vitals_postgres_longest_query_seconds[{hold}]) > {}", 300, 0ms, "medium",
     "a query on {{ $labels.probe }} has run for {{ $value | humanizeDuration }}",
     "The longest running query of {{ $labels.probe }} has been running for {{ $value | humanizeDuration }}.",
     threshold_unit::seconds},
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
  activity_sql_.clear();  // the server may have been upgraded while we were away
  prepared_ = false;
  co_return std::nullopt;
}

namespace {

// A failed statement ends the query string: later statements did not run.
std::optional<probe_result> failed_statement(const pg_connection::query_outcome& outcome,
                                             const postgres_probe::settings& s) {
  for (const auto& r : outcome.results) {
    const auto status = ::PQresultStatus(r.get());
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) continue;
    const char* sqlstate = ::PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    const std::string message = pg_error_line(::PQresultErrorMessage(r.get()), s.password);
    if (sqlstate != nullptr && std::string_view(sqlstate) == "57014")
      return probe_result::failure("timeout", "query cancelled by statement_timeout (" +
                                                  format_duration(s.statement_timeout) + "): " + message);
    return probe_result::failure("query", "query failed: " + message);
  }
  return std::nullopt;
}

// The SQLSTATE of a failed statement, empty when there is none.
std::string_view failed_sqlstate(const pg_connection::query_outcome& outcome) {
  for (const auto& r : outcome.results) {
    const auto status = ::PQresultStatus(r.get());
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) continue;
    const char* sqlstate = ::PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    return sqlstate != nullptr ? sqlstate : "XX000";
  }
  return {};
}

// The session does not keep our prepared statement: "does not exist" right
// after we made it, or "already exists" before we did. Both mean a pooler in
// transaction mode hands each transaction another server session.
bool statements_not_kept(std::string_view sqlstate) { return sqlstate == "26000" || sqlstate == "42P05"; }

}  // namespace

asio::awaitable<pg_connection::query_outcome> postgres_probe::query(bool with_size) {
  if (activity_sql_.empty()) activity_sql_ = pg_activity_sql(connection_.server_version());
  if (!with_size && use_prepared_) {
    // Prepared once per connection: a run then costs the server no parsing
    // or planning, which is most of what the simple protocol costs it.
    if (!prepared_) {
      auto made = co_await connection_.async_prepare(activity_statement, activity_sql_);
      const auto sqlstate = failed_sqlstate(made);
      if (!made.error.empty() || (!sqlstate.empty() && !statements_not_kept(sqlstate))) co_return made;
      prepared_ = sqlstate.empty();
      use_prepared_ = prepared_;
    }
    if (prepared_) {
      auto out = co_await connection_.async_query_prepared(activity_statement);
      if (!out.error.empty() || !statements_not_kept(failed_sqlstate(out))) co_return out;
      prepared_ = use_prepared_ = false;  // from now on, this probe sends the text
    }
  }
  // One simple-protocol round trip; with the size, one transaction of two
  // statements. (A named string: GCC 12 frees a temporary in a co_await
  // operand twice.)
  std::string sql = activity_sql_;
  if (with_size) sql += std::string(";\n") + database_size_sql;
  co_return co_await connection_.async_query(sql);
}

asio::awaitable<probe_result> postgres_probe::run() {
  const bool reused = connection_.is_open();
  if (!reused)
    if (auto failed = co_await connect()) co_return std::move(*failed);

  const auto now = clock::now();
  const bool with_size = !size_read_at_ || now - *size_read_at_ >= database_size_max_age;
  auto outcome = co_await query(with_size);
  if (!outcome.error.empty() && reused) {
    // The kept connection died since the last run (server restart, idle
    // timeout, terminated backend): one fresh connection, same run.
    if (auto failed = co_await connect()) co_return std::move(*failed);
    outcome = co_await query(with_size);
  }
  if (!outcome.error.empty()) {
    auto f = describe_pg_error(outcome.error, settings_.password);
    co_return probe_result::failure(std::move(f.reason), std::move(f.error));
  }
  if (auto failed = failed_statement(outcome, settings_)) co_return std::move(*failed);
  std::optional<pg_activity> seen;
  if (outcome.results.size() == (with_size ? 2u : 1u)) seen = read_pg_activity(outcome.results[0].get());
  if (with_size && seen) {
    const PGresult* size = outcome.results[1].get();
    if (::PQntuples(size) != 1 || ::PQnfields(size) != 1) seen.reset();
    else database_size_ = std::strtod(::PQgetvalue(size, 0, 0), nullptr);
    size_read_at_ = now;
  }
  if (!seen) co_return probe_result::failure("protocol", "unexpected result shape from the statistics query");
  co_return result_of(*seen);
}

probe_result postgres_probe::result_of(const pg_activity& seen) const {
  probe_result result = probe_result::success();
  static constexpr const char* states[] = {"active", "idle", "idle_in_transaction", "idle_in_transaction_aborted",
                                           "other"};
  double clients = 0;
  for (int i = 0; i < 5; ++i) {
    clients += seen.by_state[i];
    result.samples.push_back({"vitals_postgres_connections", {{"state", states[i]}}, seen.by_state[i]});
  }
  const double max_connections = seen.max_connections;
  result.samples.push_back({"vitals_postgres_max_connections", {}, max_connections});
  result.samples.push_back(
      {"vitals_postgres_connections_utilization_ratio", {}, max_connections > 0 ? clients / max_connections : 0});
  result.samples.push_back(
      {"vitals_postgres_idle_in_transaction_max_seconds", {}, seen.idle_in_transaction_max_seconds});
  result.samples.push_back({"vitals_postgres_longest_query_seconds", {}, seen.longest_query_seconds});
  result.samples.push_back({"vitals_postgres_blocked_queries", {}, static_cast<double>(seen.blocked.size())});
  result.samples.push_back({"vitals_postgres_database_size_bytes", {}, database_size_});
  result.samples.push_back({"vitals_postgres_connect_seconds", {}, connect_seconds_});

  const auto whole = [](double n) { return std::to_string(static_cast<long long>(n)); };
  result.evidence.emplace_back("connections", whole(clients) + " of " + whole(max_connections) + " (active " +
                                                  whole(seen.by_state[0]) + ", idle in transaction " +
                                                  whole(seen.by_state[2] + seen.by_state[3]) + ")");
  for (const auto& session : seen.sessions)
    result.evidence.emplace_back(session.active ? "active query" : "idle in transaction", session.text);
  for (std::size_t i = 0; i < seen.blocked.size() && i < evidence_blocked; ++i)
    result.evidence.emplace_back("blocked", seen.blocked[i]);
  return result;
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
