// The redis probe keeps one connection across runs and reads a local
// server's memory limit only when the server changed: checked against real
// redis-server processes, through the server's own client counters.

#include "probes/redis/redis_probe.hpp"

#include "support/redis_server.hpp"
#include "support/run_probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace vitals {
namespace {

using test::redis_server;
using test::redis_sync_client;
using namespace std::chrono_literals;

std::string evidence_of(const probe_result& r, std::string_view key) {
  for (const auto& [k, v] : r.evidence)
    if (k == key) return v;
  return {};
}

// A memory limit reader that counts its calls and answers 1 GiB, 2 GiB, …
// by call, so a test can tell from the probe's answer which reading it used.
struct counting_reader {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);

  redis_probe::memory_limit_reader reader() const {
    return [calls = calls](std::optional<long>) {
      const int n = ++*calls;
      return memory_limit{"cgroup", n * 1024.0 * 1024 * 1024};
    };
  }
};

class redis_kept_connection : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};

  std::unique_ptr<redis_probe> make(const redis_server& server, redis_probe::memory_limit_reader reader = {}) {
    redis_probe::settings s;
    s.port = server.port();
    if (!reader) return std::make_unique<redis_probe>(std::move(s), ctx);
    return std::make_unique<redis_probe>(std::move(s), ctx, std::move(reader));
  }

  probe_result run(probe& p) {
    auto r = test::run_with_deadline(io, p, 10s);
    if (!r) throw std::runtime_error("probe did not finish within 10s");
    return std::move(*r);
  }
};

// Polls `done` (the server sees a closed connection asynchronously).
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 5s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

TEST_F(redis_kept_connection, five_runs_open_one_connection) {
  redis_server server;
  redis_sync_client client(server.port());  // one connection of its own, opened before counting
  const auto received_before = std::stoi(client.info_field("total_connections_received"));
  auto probe = make(server);

  for (int i = 0; i < 5; ++i) ASSERT_TRUE(run(*probe).ok) << "run " << i;

  EXPECT_EQ(std::stoi(client.info_field("total_connections_received")), received_before + 1);
  EXPECT_EQ(client.info_field("connected_clients"), "2") << "the probe's connection stays open between runs";
}

TEST_F(redis_kept_connection, destroyed_probe_closes_its_connection) {
  redis_server server;
  redis_sync_client client(server.port());
  auto probe = make(server);
  ASSERT_TRUE(run(*probe).ok);
  ASSERT_EQ(client.info_field("connected_clients"), "2");

  probe.reset();  // what removing or reconfiguring the probe does to the old instance

  EXPECT_TRUE(eventually([&] { return client.info_field("connected_clients") == "1"; }))
      << client.info_field("connected_clients");
}

TEST_F(redis_kept_connection, server_restarted_between_runs_is_reconnected_within_the_run) {
  redis_server server;
  auto probe = make(server);
  ASSERT_TRUE(run(*probe).ok);

  server.restart();  // the kept connection is dead; the probe has not noticed yet
  redis_sync_client client(server.port());
  client.command({"CONFIG", "SET", "maxmemory", "64mb"});
  auto r = run(*probe);

  ASSERT_TRUE(r.ok) << r.reason << ": " << r.error;
  EXPECT_NE(evidence_of(r, "memory").find("of 64.0 MiB maxmemory"), std::string::npos) << evidence_of(r, "memory");
  EXPECT_EQ(client.info_field("connected_clients"), "2") << "the test's client and the probe's new connection";
}

TEST_F(redis_kept_connection, connection_killed_by_the_server_is_replaced_within_the_run) {
  redis_server server;
  redis_sync_client client(server.port());
  auto probe = make(server);
  ASSERT_TRUE(run(*probe).ok);

  EXPECT_EQ(client.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}), "1");
  auto r = run(*probe);

  EXPECT_TRUE(r.ok) << r.reason << ": " << r.error;
  EXPECT_EQ(client.info_field("connected_clients"), "2");
}

TEST_F(redis_kept_connection, memory_limit_is_read_once_while_the_server_is_unchanged) {
  redis_server server;
  counting_reader limits;
  auto probe = make(server, limits.reader());

  for (int i = 0; i < 5; ++i) {
    auto r = run(*probe);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_NE(evidence_of(r, "memory").find("of 1.0 GiB cgroup limit"), std::string::npos) << evidence_of(r, "memory");
  }
  EXPECT_EQ(limits.calls->load(), 1);
}

TEST_F(redis_kept_connection, memory_limit_is_read_again_after_a_server_restart) {
  redis_server server;
  counting_reader limits;
  auto probe = make(server, limits.reader());
  ASSERT_TRUE(run(*probe).ok);

  server.restart();  // a new process, with a new run_id: maybe in another cgroup
  auto r = run(*probe);

  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(limits.calls->load(), 2);
  EXPECT_NE(evidence_of(r, "memory").find("of 2.0 GiB cgroup limit"), std::string::npos) << evidence_of(r, "memory");
}

}  // namespace
}  // namespace vitals
