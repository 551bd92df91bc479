#pragma once

#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/postgres/pg_connection.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vitals {

class node_reader;
struct pg_activity;
struct probe_settings;

// `type: postgres` — one libpq connection per probe, kept open across runs,
// and one round trip per run that reads pg_stat_activity (connections by
// state, idle-in-transaction and query ages, blocked sessions) and the
// usable max_connections (pg_activity.hpp), and at most once a minute the
// database size. The probe's own session is excluded from every count.
// Failure reasons: refused, auth, no_database, too_many_connections,
// protocol, ssl, closed, resolve, unreachable, timeout (statement_timeout),
// query, error. See docs/probes/postgres.md.
class postgres_probe final : public probe {
public:
  static constexpr std::string_view type = "postgres";

  struct settings {
    pg_params params;      // the conninfo's keywords, minus password
    std::string password;  // secret: never logged, labelled or shown
    std::string host;      // a name, an IP literal or a unix socket directory
    std::string hostaddr;  // given in the conninfo: no lookup
    std::string port = "5432";
    std::string dbname;    // for target(); empty: libpq's default (the user name)
    std::chrono::milliseconds statement_timeout{4000};  // below the probe's timeout
  };

  // `ctx` must outlive the probe; so must ctx.io's loop, which the
  // connection's descriptor lives on.
  postgres_probe(settings s, const probe_context& ctx);

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  asio::awaitable<probe_result> run() override;
  // "127.0.0.1:5432/app": never the user, password or other conninfo keys.
  std::string target() const override;

  const settings& config() const { return settings_; }
  // The server pid of the probe's own session, 0 when not connected.
  int backend_pid() const { return connection_.backend_pid(); }

private:
  // Opens connection_ (resolving a host name first). Returns the failure,
  // or nullopt when connected.
  asio::awaitable<std::optional<probe_result>> connect();
  // Sends the statistics query (prepared, unless a pooler in between cannot
  // keep a prepared statement), and the database size query when asked.
  asio::awaitable<pg_connection::query_outcome> query(bool with_size);
  // Samples and evidence of a healthy run.
  probe_result result_of(const pg_activity& seen) const;

  settings settings_;
  const probe_context* ctx_;
  pg_connection connection_;  // reused across runs; reopened after any failure
  double connect_seconds_ = 0;  // of the last successful connect
  std::string activity_sql_;    // for the connected server's version; built on first use
  bool prepared_ = false;       // the connection holds it as a prepared statement
  bool use_prepared_ = true;    // false for good once a pooler proved it does not keep one
  double database_size_ = 0;    // the last pg_database_size() read
  std::optional<std::chrono::steady_clock::time_point> size_read_at_;
};

}  // namespace vitals
