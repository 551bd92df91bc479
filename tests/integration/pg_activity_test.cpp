// The statistics query of the postgres probe, run as it is for a server
// before PostgreSQL 13 (no leader_pid) and for a current one, against a real
// cluster with a lock wait: both read the same sessions and blocking chain.

#include "probes/postgres/pg_activity.hpp"

#include "support/postgres_cluster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace vitals {
namespace {

using test::pg_session;
using test::postgres_cluster;
using namespace std::chrono_literals;

struct result_deleter {
  void operator()(PGresult* r) const { ::PQclear(r); }
};

// Runs `sql` on a connection of its own as the monitor role, as the probe does.
std::unique_ptr<PGresult, result_deleter> query(const postgres_cluster& cluster, const std::string& sql) {
  PGconn* conn = ::PQconnectdb((cluster.conninfo() + " password=" + postgres_cluster::password()).c_str());
  std::unique_ptr<PGresult, result_deleter> r(::PQexec(conn, sql.c_str()));
  ::PQfinish(conn);
  return r;
}

class pg_activity_query : public ::testing::Test {
protected:
  static void SetUpTestSuite() { cluster_ = new postgres_cluster(); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static postgres_cluster* cluster_;
};

postgres_cluster* pg_activity_query::cluster_ = nullptr;

void expect_lock_wait_read(const postgres_cluster& cluster, int server_version) {
  pg_session holder(cluster.superuser_conninfo());
  pg_session waiter(cluster.superuser_conninfo());
  holder.exec("BEGIN");
  holder.exec("LOCK TABLE t");
  waiter.start("SELECT * FROM t");
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (cluster.psql("app", "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid = " +
                                 std::to_string(waiter.pid())) != "1" &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);

  const auto result = query(cluster, pg_activity_sql(server_version));
  ASSERT_EQ(::PQresultStatus(result.get()), PGRES_TUPLES_OK) << ::PQresultErrorMessage(result.get());
  const auto seen = read_pg_activity(result.get());

  ASSERT_TRUE(seen.has_value());
  ASSERT_EQ(seen->blocked.size(), 1u);
  EXPECT_EQ(seen->blocked[0], "pid " + std::to_string(waiter.pid()) + " blocked by " + std::to_string(holder.pid()));
  EXPECT_GE(seen->by_state[0], 1) << "the waiter is active";
  EXPECT_GE(seen->by_state[2], 1) << "the holder is idle in transaction";
  ASSERT_GE(seen->sessions.size(), 2u);
  EXPECT_TRUE(seen->sessions.front().active) << "active queries come first";
  EXPECT_FALSE(seen->sessions.back().active);
}

TEST_F(pg_activity_query, query_for_a_current_server_reads_a_lock_wait) { expect_lock_wait_read(*cluster_, 150000); }

TEST_F(pg_activity_query, query_for_servers_before_13_reads_the_same_lock_wait) {
  expect_lock_wait_read(*cluster_, 120000);
}

TEST_F(pg_activity_query, idle_server_still_yields_the_summary_row) {
  const auto result = query(*cluster_, pg_activity_sql(150000));
  const auto seen = read_pg_activity(result.get());

  ASSERT_TRUE(seen.has_value()) << ::PQresultErrorMessage(result.get());
  EXPECT_EQ(seen->max_connections, 27);
  EXPECT_TRUE(seen->blocked.empty());
}

}  // namespace
}  // namespace vitals
