// The postgres probe against real, throwaway PostgreSQL clusters (initdb +
// pg_ctl in a temp dir, see support/postgres_cluster.hpp) and against two
// fake servers: one that accepts and never answers, one that answers
// garbage.

#include "probes/postgres/postgres_probe.hpp"

#include "fixtures/postgres_fake_servers.hpp"
#include "probes/core/node_reader.hpp"
#include "probes/core/probe_settings.hpp"
#include "support/postgres_cluster.hpp"
#include "support/run_probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using test::garbage_server;
using test::hang_up_server;
using test::pg_session;
using test::postgres_cluster;
using test::run_once;
using test::run_with_deadline;
using test::silent_server;
using tcp = asio::ip::tcp;

// --- helpers ----------------------------------------------------------------

std::optional<double> value_of(const probe_result& r, const std::string& name, const label_set& labels = {}) {
  for (const auto& s : r.samples)
    if (s.name == name && s.labels == labels) return s.value;
  return std::nullopt;
}

std::vector<std::string> evidence_all(const probe_result& r, const std::string& key) {
  std::vector<std::string> found;
  for (const auto& [k, v] : r.evidence)
    if (k == key) found.push_back(v);
  return found;
}

bool evidence_has(const probe_result& r, const std::string& key, const std::string& part) {
  for (const auto& text : evidence_all(r, key))
    if (text.find(part) != std::string::npos) return true;
  return false;
}

std::string dump(const probe_result& r) {
  std::string text = "ok=" + std::to_string(r.ok) + " reason=" + r.reason + " error=" + r.error + "\n";
  for (const auto& s : r.samples) {
    text += "  " + s.name;
    for (const auto& [k, v] : s.labels) text += " " + k + "=" + v;
    text += " " + std::to_string(s.value) + "\n";
  }
  for (const auto& [k, v] : r.evidence) text += "  [" + k + "] " + v + "\n";
  return text;
}

std::size_t open_fd_count() {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                                std::filesystem::directory_iterator()));
}

// Builds the probe through its factory, as the config loader would.
std::unique_ptr<postgres_probe> make_probe(const probe_context& ctx, const std::string& conninfo,
                                           const std::string& password = postgres_cluster::password(),
                                           std::chrono::milliseconds timeout = 5s) {
  YAML::Node node;
  node["name"] = "pg";
  node["type"] = "postgres";
  node["conninfo"] = conninfo;
  if (!password.empty()) node["password"] = password;
  diagnostics diags("vitals.yaml");
  node_reader reader(node, "probes[0]", diags);
  reader.known({"name", "type"});
  probe_settings common;
  common.timeout = timeout;
  auto build = postgres_probe::create(common, reader);
  reader.finish();
  std::string errors;
  for (const auto& e : diags.errors()) errors += e.str() + "\n";
  if (!build || !diags.ok()) throw std::runtime_error("config: " + errors);
  return std::unique_ptr<postgres_probe>(static_cast<postgres_probe*>(build(ctx).release()));
}

// Polls `done` (blocking: server state changes in other processes).
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

// --- fixture ------------------------------------------------------------------

// One cluster shared by the tests that only add and remove sessions; tests
// that stop the server or change its limits start their own.
class postgres_probe_live : public ::testing::Test {
protected:
  static void SetUpTestSuite() { cluster_ = new postgres_cluster(); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  postgres_cluster& cluster() { return *cluster_; }
  std::string su() { return cluster_->superuser_conninfo(); }

  // Waits until the server shows `pid` in `state` (sessions arranged by a
  // test reach it asynchronously).
  void wait_for_state(int pid, const std::string& state, const std::string& extra = "") {
    ASSERT_TRUE(eventually([&] {
      return cluster().psql("app", "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid) +
                                       " AND state = " + postgres_cluster::literal(state) + extra) == "1";
    })) << "pid " << pid << " never reached state " << state;
  }

  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};

private:
  static postgres_cluster* cluster_;
};

postgres_cluster* postgres_probe_live::cluster_ = nullptr;

// --- a healthy server ----------------------------------------------------------

TEST_F(postgres_probe_live, healthy_server_is_ok_with_every_series) {
  auto p = make_probe(ctx, cluster().conninfo());
  const auto r = run_once(io, *p);

  ASSERT_TRUE(r.ok) << dump(r);
  EXPECT_EQ(r.reason, "");
  for (const char* state : {"active", "idle", "idle_in_transaction", "idle_in_transaction_aborted", "other"})
    EXPECT_TRUE(value_of(r, "vitals_postgres_connections", {{"state", state}})) << state << "\n" << dump(r);
  // max_connections 30 minus 3 reserved for superusers.
  EXPECT_EQ(value_of(r, "vitals_postgres_max_connections"), 27);
  EXPECT_GE(value_of(r, "vitals_postgres_connections_utilization_ratio").value_or(-1), 0);
  EXPECT_LT(value_of(r, "vitals_postgres_connections_utilization_ratio").value_or(2), 1);
  EXPECT_GT(value_of(r, "vitals_postgres_database_size_bytes").value_or(0), 1e6);
  EXPECT_GT(value_of(r, "vitals_postgres_connect_seconds").value_or(0), 0);
  EXPECT_EQ(value_of(r, "vitals_postgres_blocked_queries"), 0);
  EXPECT_EQ(p->target(), "127.0.0.1:" + std::to_string(cluster().port()) + "/app");
  EXPECT_EQ(evidence_all(r, "connections").size(), 1u) << dump(r);
}

TEST_F(postgres_probe_live, declares_every_series_it_produces) {
  auto p = make_probe(ctx, cluster().conninfo());
  const auto r = run_once(io, *p);
  ASSERT_TRUE(r.ok) << dump(r);
  const auto declared = postgres_probe::metrics();
  for (const auto& s : r.samples)
    EXPECT_TRUE(std::any_of(declared.begin(), declared.end(), [&](const metric_info& m) { return m.name == s.name; }))
        << s.name;
  EXPECT_EQ(declared.size(), 8u);
}

TEST_F(postgres_probe_live, host_name_is_resolved_before_connecting) {
  auto p = make_probe(ctx, "host=localhost port=" + std::to_string(cluster().port()) + " dbname=app user=monitor");
  const auto r = run_once(io, *p);
  EXPECT_TRUE(r.ok) << dump(r);
  EXPECT_EQ(p->target(), "localhost:" + std::to_string(cluster().port()) + "/app");
}

TEST_F(postgres_probe_live, idle_sessions_are_counted) {
  std::vector<std::unique_ptr<pg_session>> sessions;
  for (int i = 0; i < 3; ++i) sessions.push_back(std::make_unique<pg_session>(su()));
  auto p = make_probe(ctx, cluster().conninfo());
  const auto r = run_once(io, *p);
  ASSERT_TRUE(r.ok) << dump(r);
  EXPECT_GE(value_of(r, "vitals_postgres_connections", {{"state", "idle"}}).value_or(0), 3) << dump(r);
}

TEST_F(postgres_probe_live, idle_in_transaction_session_is_measured_and_named_in_evidence) {
  // A first run, so that the measured one executes the prepared statement.
  auto p = make_probe(ctx, cluster().conninfo());
  ASSERT_TRUE(run_once(io, *p).ok);
  pg_session s(su());
  s.exec("BEGIN");
  s.exec("SELECT 1");
  wait_for_state(s.pid(), "idle in transaction");
  std::this_thread::sleep_for(100ms);

  const auto r = run_once(io, *p);
  ASSERT_TRUE(r.ok) << dump(r);
  EXPECT_GE(value_of(r, "vitals_postgres_connections", {{"state", "idle_in_transaction"}}).value_or(0), 1);
  EXPECT_GT(value_of(r, "vitals_postgres_idle_in_transaction_max_seconds").value_or(0), 0) << dump(r);
  EXPECT_TRUE(evidence_has(r, "idle in transaction", "pid " + std::to_string(s.pid()) + ",")) << dump(r);
  EXPECT_TRUE(evidence_has(r, "idle in transaction", "SELECT 1")) << dump(r);
}

TEST_F(postgres_probe_live, running_query_is_measured_and_named_in_evidence_but_not_our_own) {
  // A first run, so that the measured one executes the prepared statement.
  auto p = make_probe(ctx, cluster().conninfo());
  ASSERT_TRUE(run_once(io, *p).ok);
  pg_session s(su());
  s.start("SELECT pg_sleep(30)");
  wait_for_state(s.pid(), "active");
  std::this_thread::sleep_for(100ms);

  const auto r = run_once(io, *p);
  ASSERT_TRUE(r.ok) << dump(r);
  EXPECT_GT(value_of(r, "vitals_postgres_longest_query_seconds").value_or(0), 0) << dump(r);
  EXPECT_TRUE(evidence_has(r, "active query", "pid " + std::to_string(s.pid()) + ",")) << dump(r);
  EXPECT_TRUE(evidence_has(r, "active query", "SELECT pg_sleep(30)")) << dump(r);
  // The probe's own statistics query is running while it reads; it must
  // not count itself.
  ASSERT_NE(p->backend_pid(), 0);
  for (const auto& [key, text] : r.evidence)
    EXPECT_EQ(text.find("pid " + std::to_string(p->backend_pid()) + ","), std::string::npos) << text;
  EXPECT_EQ(value_of(r, "vitals_postgres_connections", {{"state", "active"}}), 1) << dump(r);
}

TEST_F(postgres_probe_live, lock_wait_is_counted_with_its_blocking_chain) {
  // A first run, so that the measured one executes the prepared statement.
  auto p = make_probe(ctx, cluster().conninfo());
  ASSERT_TRUE(run_once(io, *p).ok);
  pg_session holder(su());
  pg_session waiter(su());
  holder.exec("BEGIN");
  holder.exec("LOCK TABLE t");
  waiter.start("SELECT * FROM t");
  wait_for_state(waiter.pid(), "active", " AND wait_event_type = 'Lock'");

  const auto r = run_once(io, *p);
  ASSERT_TRUE(r.ok) << dump(r);
  EXPECT_GE(value_of(r, "vitals_postgres_blocked_queries").value_or(0), 1) << dump(r);
  EXPECT_TRUE(evidence_has(r, "blocked",
                           "pid " + std::to_string(waiter.pid()) + " blocked by " + std::to_string(holder.pid())))
      << dump(r);
  EXPECT_TRUE(evidence_has(r, "active query", "wait Lock/relation")) << dump(r);
}

TEST_F(postgres_probe_live, keeps_one_connection_across_runs) {
  auto p = make_probe(ctx, cluster().conninfo());
  ASSERT_TRUE(run_once(io, *p).ok);
  const int pid = p->backend_pid();
  ASSERT_NE(pid, 0);
  for (int i = 0; i < 10; ++i) {
    const auto r = run_once(io, *p);
    ASSERT_TRUE(r.ok) << dump(r);
    EXPECT_EQ(p->backend_pid(), pid);
  }
  // Sessions of probes from earlier tests may still be exiting.
  EXPECT_TRUE(eventually([&] {
    return cluster().psql("app", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vitalsd'") == "1";
  })) << cluster().psql("app", "SELECT pid, state FROM pg_stat_activity WHERE application_name = 'vitalsd'");
  EXPECT_EQ(cluster().psql("app", "SELECT usename FROM pg_stat_activity WHERE pid = " + std::to_string(pid)),
            "monitor");
}

TEST_F(postgres_probe_live, statement_timeout_below_the_probe_timeout_stops_a_stuck_query) {
  // A read-only deferrable serializable transaction waits for a safe
  // snapshot while a serializable read-write one is open: a query the test
  // can hold up without knowing which relations it reads.
  auto p = make_probe(ctx,
                      cluster().conninfo() +
                          " options='-c default_transaction_isolation=serializable "
                          "-c default_transaction_read_only=on -c default_transaction_deferrable=on'",
                      postgres_cluster::password(), 1s);
  ASSERT_TRUE(run_once(io, *p).ok);
  EXPECT_EQ(p->config().statement_timeout, 800ms);
  const int pid = p->backend_pid();

  {
    pg_session writer(su());
    writer.exec("BEGIN ISOLATION LEVEL SERIALIZABLE");
    writer.exec("SELECT 1");  // takes its snapshot: the probe's query now waits until statement_timeout
    const auto r = run_with_deadline(io, *p, 5s);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->ok);
    EXPECT_EQ(r->reason, "timeout") << dump(*r);
    EXPECT_NE(r->error.find("statement_timeout (800ms)"), std::string::npos) << r->error;
  }
  // The server cancelled only the statement: the connection is kept.
  const auto r = run_once(io, *p);
  EXPECT_TRUE(r.ok) << dump(r);
  EXPECT_EQ(p->backend_pid(), pid);
}

TEST_F(postgres_probe_live, unix_socket_directory_is_used_without_a_lookup) {
  auto p = make_probe(ctx, "host=" + cluster().socket_dir() + " port=" + std::to_string(cluster().port()) +
                               " dbname=app user=monitor");
  const auto r = run_once(io, *p);
  ASSERT_TRUE(r.ok) << dump(r);
  EXPECT_EQ(p->target(), cluster().socket_dir() + ":" + std::to_string(cluster().port()) + "/app");
}

TEST_F(postgres_probe_live, terminated_session_is_replaced_within_the_same_run) {
  auto p = make_probe(ctx, cluster().conninfo());
  ASSERT_TRUE(run_once(io, *p).ok);
  const int pid = p->backend_pid();
  cluster().psql("app", "SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  ASSERT_TRUE(eventually([&] {
    return cluster().psql("app", "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) == "0";
  }));

  const auto r = run_once(io, *p);
  ASSERT_TRUE(r.ok) << dump(r);
  EXPECT_NE(p->backend_pid(), pid);
}

// --- failures against a real server ------------------------------------------

TEST_F(postgres_probe_live, wrong_password_fails_with_reason_auth_without_the_password) {
  const std::string wrong = "not-the-password-9d2e";
  auto p = make_probe(ctx, cluster().conninfo(), wrong);
  const auto r = run_once(io, *p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "auth") << dump(r);
  EXPECT_NE(r.error.find("password authentication failed for user \"monitor\""), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find(wrong), std::string::npos);
  EXPECT_EQ(r.error.find('\n'), std::string::npos);
  for (const auto& [k, v] : r.evidence) EXPECT_EQ(v.find(wrong), std::string::npos);
}

TEST_F(postgres_probe_live, missing_database_fails_with_reason_no_database) {
  auto p = make_probe(ctx, cluster().conninfo("nope"));
  const auto r = run_once(io, *p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "no_database") << dump(r);
  EXPECT_EQ(r.error, "database \"nope\" does not exist");
}

TEST_F(postgres_probe_live, ssl_required_by_a_server_without_ssl_fails_with_reason_ssl) {
  auto p = make_probe(ctx, cluster().conninfo() + " sslmode=require");
  const auto r = run_once(io, *p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "ssl") << dump(r);
}

TEST(postgres_probe_limits, exhausted_max_connections_fails_with_reason_too_many_connections) {
  postgres_cluster cluster({.max_connections = 5, .superuser_reserved_connections = 1});
  std::vector<std::unique_ptr<pg_session>> sessions;
  for (int i = 0; i < 4; ++i) sessions.push_back(std::make_unique<pg_session>(cluster.superuser_conninfo()));

  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  auto p = make_probe(ctx, cluster.conninfo());
  const auto r = run_once(io, *p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "too_many_connections") << dump(r);

  sessions.pop_back();  // one slot free again: the same probe gets in
  ASSERT_TRUE(eventually([&] { return cluster.psql("app", "SELECT count(*) FROM pg_stat_activity "
                                                           "WHERE backend_type = 'client backend'") == "4"; }));
  const auto again = run_once(io, *p);
  ASSERT_TRUE(again.ok) << dump(again);
  // 5 - 1 reserved; three test sessions besides the probe.
  EXPECT_EQ(value_of(again, "vitals_postgres_max_connections"), 4);
  EXPECT_DOUBLE_EQ(value_of(again, "vitals_postgres_connections_utilization_ratio").value_or(0), 3.0 / 4.0);
}

TEST(postgres_probe_restart, stopped_server_is_refused_and_the_same_probe_reconnects_after_restart) {
  postgres_cluster cluster;
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  auto p = make_probe(ctx, cluster.conninfo());
  ASSERT_TRUE(run_once(io, *p).ok);
  const int first_pid = p->backend_pid();
  const auto fds_connected = open_fd_count();

  cluster.stop();
  const auto down = run_once(io, *p);
  EXPECT_FALSE(down.ok);
  EXPECT_EQ(down.reason, "refused") << dump(down);
  EXPECT_EQ(down.error.find('\n'), std::string::npos) << down.error;
  EXPECT_EQ(p->backend_pid(), 0);

  cluster.start();
  const auto up = run_once(io, *p);
  ASSERT_TRUE(up.ok) << dump(up);
  EXPECT_NE(p->backend_pid(), first_pid);
  EXPECT_GT(value_of(up, "vitals_postgres_connect_seconds").value_or(0), 0);
  EXPECT_EQ(open_fd_count(), fds_connected);  // the dead connection's socket was closed
}

// --- fake servers: tests/fixtures/postgres_fake_servers.hpp ----------------------

TEST(postgres_probe_fakes, server_hanging_up_fails_with_reason_closed) {
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  hang_up_server server(io);
  auto p = make_probe(ctx, "host=127.0.0.1 port=" + std::to_string(server.port()) + " dbname=app user=monitor");
  const auto r = run_with_deadline(io, *p, 5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->reason, "closed") << dump(*r);
}

TEST(postgres_probe_fakes, server_that_never_answers_is_cancelled_by_the_deadline_without_leaking_its_fd) {
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  silent_server server;
  auto p = make_probe(ctx, "host=127.0.0.1 port=" + std::to_string(server.port()) + " dbname=app user=monitor");
  const auto fds_before = open_fd_count();

  const auto started = std::chrono::steady_clock::now();
  const auto r = run_with_deadline(io, *p, 300ms);
  const auto took = std::chrono::steady_clock::now() - started;

  EXPECT_FALSE(r.has_value()) << dump(*r);  // the deadline won
  EXPECT_LT(took, 2s);
  EXPECT_EQ(p->backend_pid(), 0);
  EXPECT_EQ(open_fd_count(), fds_before);
  EXPECT_TRUE(server.client_hung_up(2s));
}

TEST(postgres_probe_fakes, server_answering_garbage_fails_with_reason_protocol) {
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  garbage_server server(io);
  for (const char* sslmode : {"prefer", "disable"}) {
    auto p = make_probe(ctx, "host=127.0.0.1 port=" + std::to_string(server.port()) +
                                 " dbname=app user=monitor sslmode=" + sslmode);
    const auto r = run_with_deadline(io, *p, 5s);
    ASSERT_TRUE(r.has_value()) << sslmode;
    EXPECT_FALSE(r->ok);
    EXPECT_EQ(r->reason, "protocol") << sslmode << ": " << dump(*r);
  }
}

TEST(postgres_probe_fakes, refused_port_fails_with_reason_refused) {
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  const auto port = test::pg_detail::free_port();
  auto p = make_probe(ctx, "host=127.0.0.1 port=" + std::to_string(port) + " dbname=app user=monitor");
  const auto r = run_once(io, *p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "refused") << dump(r);
  EXPECT_EQ(r.error, "connection refused");
}

}  // namespace
}  // namespace vitals
