// The redis probe against real redis-server processes started by the
// harness (tests/support/redis_server.hpp) and against servers that
// misbehave on purpose (tests/fixtures/redis_misbehaving_server.hpp).

#include "probes/redis/redis_probe.hpp"

#include "daemon/app/config.hpp"
#include "fixtures/redis_misbehaving_server.hpp"
#include "probes/core/probe_registry.hpp"
#include "support/redis_server.hpp"
#include "support/run_probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace vitals {
namespace {

using test::redis_misbehaving_server;
using test::redis_server;
using test::redis_sync_client;
using test::run_once;
using test::run_with_deadline;
using namespace std::chrono_literals;

const sample* find_sample(const probe_result& r, std::string_view name) {
  auto it = std::find_if(r.samples.begin(), r.samples.end(), [&](const sample& s) { return s.name == name; });
  return it == r.samples.end() ? nullptr : &*it;
}

std::string evidence_of(const probe_result& r, std::string_view key) {
  for (const auto& [k, v] : r.evidence)
    if (k == key) return v;
  return {};
}

std::string everything_shown(const probe_result& r) {
  std::string all = r.error + "\n" + r.reason + "\n";
  for (const auto& [k, v] : r.evidence) all += k + ": " + v + "\n";
  for (const auto& s : r.samples)
    for (const auto& [k, v] : s.labels) all += k + "=" + v + "\n";
  return all;
}

class redis_probe_test : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};

  redis_probe make(std::uint16_t port, std::string password = {}, std::string username = {},
                   std::optional<int> db = {}) {
    redis_probe::settings s;
    s.host = "127.0.0.1";
    s.port = port;
    s.password = std::move(password);
    s.username = std::move(username);
    s.db = db;
    return redis_probe(std::move(s), ctx);
  }

  probe_result run(probe& p) {
    auto r = run_with_deadline(io, p, 10s);
    if (!r) throw std::runtime_error("probe did not finish within 10s");
    return std::move(*r);
  }
};

TEST_F(redis_probe_test, healthy_server_is_ok_with_memory_ping_and_info_labels) {
  redis_server server;
  auto probe = make(server.port());

  auto r = run(probe);

  ASSERT_TRUE(r.ok) << r.reason << ": " << r.error;
  const auto* used = find_sample(r, "vitals_redis_used_memory_bytes");
  ASSERT_NE(used, nullptr);
  EXPECT_GT(used->value, 0);
  const auto* ping = find_sample(r, "vitals_redis_ping_seconds");
  ASSERT_NE(ping, nullptr);
  EXPECT_GT(ping->value, 0);
  EXPECT_LT(ping->value, 5);
  const auto* info = find_sample(r, "vitals_redis_info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->value, 1);
  EXPECT_FALSE(info->labels.at("version").empty());
  EXPECT_EQ(info->labels.at("maxmemory_policy"), "noeviction");
  ASSERT_NE(find_sample(r, "vitals_redis_connected_clients"), nullptr);
  EXPECT_GE(find_sample(r, "vitals_redis_connected_clients")->value, 1);
  EXPECT_NE(find_sample(r, "vitals_redis_evicted_keys_total"), nullptr);
  EXPECT_NE(find_sample(r, "vitals_redis_rejected_connections_total"), nullptr);
  EXPECT_NE(find_sample(r, "vitals_redis_mem_fragmentation_ratio"), nullptr);
  EXPECT_EQ(find_sample(r, "vitals_redis_keyspace_hit_ratio"), nullptr) << "no lookups yet: no ratio";
  EXPECT_FALSE(evidence_of(r, "memory").empty());
  EXPECT_FALSE(evidence_of(r, "memory_doctor").empty());
  EXPECT_EQ(evidence_of(r, "memory_doctor").find('\n'), std::string::npos);
}

TEST_F(redis_probe_test, every_sample_is_declared_in_metrics) {
  redis_server server;
  redis_sync_client(server.port()).command({"CONFIG", "SET", "maxmemory", "64mb"});
  redis_sync_client(server.port()).command({"GET", "missing"});
  auto probe = make(server.port());

  auto r = run(probe);

  ASSERT_TRUE(r.ok) << r.error;
  for (const auto& s : r.samples) {
    const auto declared = redis_probe::metrics();
    EXPECT_TRUE(std::any_of(declared.begin(), declared.end(), [&](const metric_info& m) { return m.name == s.name; }))
        << s.name;
  }
  ASSERT_NE(find_sample(r, "vitals_redis_keyspace_hit_ratio"), nullptr);
  EXPECT_EQ(find_sample(r, "vitals_redis_keyspace_hit_ratio")->value, 0);
}

TEST_F(redis_probe_test, maxmemory_filled_past_90_percent_reports_ratio_and_stays_ok) {
  redis_server server;
  redis_sync_client client(server.port());
  client.command({"CONFIG", "SET", "maxmemory", "2mb"});
  const std::string value(1000, 'x');
  for (int i = 0; i < 5000; ++i) {
    if (client.command({"SET", "key:" + std::to_string(i), value}).rfind("OOM", 0) == 0) break;
    if (i % 50 == 0 && std::stod(client.info_field("used_memory")) >= 0.93 * 2 * 1024 * 1024) break;
  }
  // One write past the limit: refused with OOM, counted in errorstats.
  EXPECT_EQ(client.command({"SET", "too-big", std::string(200'000, 'y')}).rfind("OOM", 0), 0u);
  auto probe = make(server.port());

  auto r = run(probe);

  ASSERT_TRUE(r.ok) << "memory is for alert rules, not for ok: " << r.error;
  const auto* ratio = find_sample(r, "vitals_redis_memory_utilization_ratio");
  ASSERT_NE(ratio, nullptr);
  EXPECT_EQ(ratio->labels.at("limit"), "maxmemory");
  EXPECT_GE(ratio->value, 0.9);
  EXPECT_EQ(find_sample(r, "vitals_redis_maxmemory_bytes")->value, 2 * 1024 * 1024);
  EXPECT_NE(evidence_of(r, "memory").find("of 2.0 MiB maxmemory"), std::string::npos) << evidence_of(r, "memory");
  EXPECT_NE(evidence_of(r, "errorstats").find("OOM=1"), std::string::npos) << evidence_of(r, "errorstats");
  EXPECT_EQ(evidence_of(r, "maxmemory_policy"), "noeviction");
}

TEST_F(redis_probe_test, without_maxmemory_local_ratio_uses_cgroup_or_system_limit) {
  redis_server server;
  auto probe = make(server.port());

  auto r = run(probe);

  ASSERT_TRUE(r.ok) << r.error;
  const auto* ratio = find_sample(r, "vitals_redis_memory_utilization_ratio");
  ASSERT_NE(ratio, nullptr);
  const auto limit = ratio->labels.at("limit");
  EXPECT_TRUE(limit == "cgroup" || limit == "system") << limit;
  EXPECT_GT(ratio->value, 0);
  EXPECT_LT(ratio->value, 1);
  EXPECT_EQ(find_sample(r, "vitals_redis_maxmemory_bytes")->value, 0);
}

TEST_F(redis_probe_test, allkeys_lru_with_small_maxmemory_counts_evictions) {
  redis_server server({"--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"});
  redis_sync_client client(server.port());
  const std::string value(1000, 'x');
  for (int i = 0; i < 4000; ++i) client.command({"SET", "key:" + std::to_string(i), value});
  auto probe = make(server.port());

  auto r = run(probe);

  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GT(find_sample(r, "vitals_redis_evicted_keys_total")->value, 0);
  EXPECT_EQ(find_sample(r, "vitals_redis_info")->labels.at("maxmemory_policy"), "allkeys-lru");
  EXPECT_NE(evidence_of(r, "evicted_keys"), "0");
}

TEST_F(redis_probe_test, requirepass_without_password_fails_with_auth) {
  redis_server server({"--requirepass", "s3cret-pass"});
  auto probe = make(server.port());

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "auth");
  EXPECT_NE(r.error.find("NOAUTH"), std::string::npos) << r.error;
}

TEST_F(redis_probe_test, wrong_password_fails_with_auth_and_is_never_shown) {
  redis_server server({"--requirepass", "s3cret-pass"});
  auto probe = make(server.port(), "wrong-pass-1234");

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "auth");
  EXPECT_EQ(everything_shown(r).find("wrong-pass-1234"), std::string::npos) << everything_shown(r);
  EXPECT_EQ(probe.target().find("wrong-pass-1234"), std::string::npos);
}

TEST_F(redis_probe_test, right_password_is_ok) {
  redis_server server({"--requirepass", "s3cret-pass"});
  auto probe = make(server.port(), "s3cret-pass");

  auto r = run(probe);

  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(everything_shown(r).find("s3cret-pass"), std::string::npos);
}

TEST_F(redis_probe_test, password_on_a_server_without_one_fails_with_auth) {
  redis_server server;
  auto probe = make(server.port(), "unneeded-pass");

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "auth");
  EXPECT_EQ(r.error.find("unneeded-pass"), std::string::npos) << r.error;
}

// The ACL documented in docs/probes/redis.md is enough, MEMORY DOCTOR included.
TEST_F(redis_probe_test, least_privilege_acl_user_works_with_db) {
  redis_server server;
  EXPECT_EQ(redis_sync_client(server.port())
                .command({"ACL", "SETUSER", "vitals", "reset", "on", ">vitals-pass", "+ping", "+info",
                          "+memory|doctor", "+select"}),
            "OK");
  auto probe = make(server.port(), "vitals-pass", "vitals", 3);

  auto r = run(probe);

  ASSERT_TRUE(r.ok) << r.reason << ": " << r.error;
  EXPECT_EQ(evidence_of(r, "memory_doctor").find("unavailable"), std::string::npos) << evidence_of(r, "memory_doctor");
  EXPECT_EQ(probe.target(), "127.0.0.1:" + std::to_string(server.port()) + " db 3");
}

TEST_F(redis_probe_test, acl_user_without_memory_doctor_is_ok_without_that_evidence) {
  redis_server server;
  redis_sync_client(server.port())
      .command({"ACL", "SETUSER", "basic", "reset", "on", ">basic-pass", "+ping", "+info"});
  auto probe = make(server.port(), "basic-pass", "basic");

  auto r = run(probe);

  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(evidence_of(r, "memory_doctor").rfind("unavailable: NOPERM", 0), 0u) << evidence_of(r, "memory_doctor");
}

TEST_F(redis_probe_test, acl_user_without_info_fails_with_auth) {
  redis_server server;
  redis_sync_client(server.port()).command({"ACL", "SETUSER", "narrow", "reset", "on", ">narrow-pass", "+ping"});
  auto probe = make(server.port(), "narrow-pass", "narrow");

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "auth");
  EXPECT_NE(r.error.find("NOPERM"), std::string::npos) << r.error;
}

TEST_F(redis_probe_test, killed_server_is_refused_then_ok_again_after_restart) {
  redis_server server;
  auto probe = make(server.port());
  ASSERT_TRUE(run(probe).ok);

  server.stop();
  auto down = run(probe);
  EXPECT_FALSE(down.ok);
  EXPECT_EQ(down.reason, "refused");
  EXPECT_EQ(down.error, "connection refused");

  server.restart();
  auto up = run(probe);
  EXPECT_TRUE(up.ok) << up.error;
}

TEST_F(redis_probe_test, unix_socket_address_works) {
  redis_server server;
  redis_probe::settings s;
  s.unix_path = server.unix_socket();
  redis_probe probe(std::move(s), ctx);

  auto r = run(probe);

  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(probe.target(), "unix:" + server.unix_socket());
  ASSERT_NE(find_sample(r, "vitals_redis_memory_utilization_ratio"), nullptr) << "a unix socket is local";
}

TEST_F(redis_probe_test, loaded_from_config_by_a_local_registry) {
  redis_server server;
  probe_registry registry;
  registry.add<redis_probe>();
  auto loaded = load_config_text(
      "probes:\n  - {name: cache, type: redis, address: \"" + server.address() + "\", db: 2}\n", "vitals.yaml",
      registry, ctx);
  ASSERT_NE(loaded.cfg, nullptr) << loaded.errors.front().str();

  auto r = run(*loaded.cfg->probes[0].instance);

  EXPECT_TRUE(r.ok) << r.error;
}

TEST_F(redis_probe_test, silent_server_is_cancelled_by_the_deadline_promptly_without_fd_leak) {
  redis_misbehaving_server silent(redis_misbehaving_server::mode::silent);
  auto probe = make(silent.port());
  // The io_context creates its epoll, eventfd and timerfd on first use:
  // warm it up so only the probe's own fds are counted.
  asio::steady_timer warm_up(io, 1ms);
  warm_up.wait();
  asio::ip::tcp::socket(io).open(asio::ip::tcp::v4());
  const int fds_before = test::count_open_fds();
  const auto start = std::chrono::steady_clock::now();

  auto r = run_with_deadline(io, probe, 300ms);

  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(r.has_value()) << "the deadline must win";
  EXPECT_LT(took, 2s);
  // Let aborted handlers finish; hiredis closed its fd in redisAsyncFree.
  io.restart();
  io.poll();
  EXPECT_EQ(test::count_open_fds(), fds_before);

  // The probe object is reusable after a cancelled run.
  auto again = run_with_deadline(io, probe, 200ms);
  EXPECT_FALSE(again.has_value());
  io.restart();
  io.poll();
  EXPECT_EQ(test::count_open_fds(), fds_before);
}

// Deadlines from 0 to ~3ms cut a local run at every step (connect, PING,
// INFO, the pool read); each cut must close the connection and free its fd,
// and the next run reconnect.
TEST_F(redis_probe_test, cancelled_at_any_step_leaks_nothing_and_recovers) {
  redis_server server;
  asio::steady_timer warm_up(io, 1ms);  // the io_context's own fds, created on first use
  warm_up.wait();
  asio::ip::tcp::socket(io).open(asio::ip::tcp::v4());
  const int fds_before = test::count_open_fds();
  {
    auto probe = make(server.port());
    ASSERT_TRUE(run(probe).ok);
    int cut = 0;
    for (int step = 0; step < 60; ++step) {
      auto r = run_with_deadline(io, probe, std::chrono::microseconds(step * 50));
      if (!r) ++cut;
      io.restart();
      io.poll();
    }
    EXPECT_GT(cut, 0);
    EXPECT_TRUE(run(probe).ok);
    EXPECT_EQ(test::count_open_fds(), fds_before + 1) << "only the kept connection is open";
  }
  io.restart();
  io.poll();
  EXPECT_EQ(test::count_open_fds(), fds_before);
}

TEST_F(redis_probe_test, garbage_reply_fails_with_protocol) {
  redis_misbehaving_server garbage(redis_misbehaving_server::mode::garbage);
  auto probe = make(garbage.port());

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "protocol");
  EXPECT_NE(r.error.find("protocol error"), std::string::npos) << r.error;
}

TEST_F(redis_probe_test, connection_closed_mid_reply_fails_with_closed) {
  redis_misbehaving_server midway(redis_misbehaving_server::mode::close_midway);
  auto probe = make(midway.port());

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.reason == "closed" || r.reason == "protocol") << r.reason << ": " << r.error;
  EXPECT_NE(r.error.find("PING"), std::string::npos) << r.error;
}

TEST_F(redis_probe_test, connection_closed_at_once_fails_with_closed) {
  redis_misbehaving_server closer(redis_misbehaving_server::mode::close_at_once);
  auto probe = make(closer.port());

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "closed") << r.error;
}

TEST_F(redis_probe_test, loading_server_fails_with_loading) {
  redis_misbehaving_server loading(redis_misbehaving_server::mode::fixed_answer,
                                   "-LOADING Redis is loading the dataset in memory\r\n");
  auto probe = make(loading.port());

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "loading");
  EXPECT_NE(r.error.find("LOADING"), std::string::npos) << r.error;
}

TEST_F(redis_probe_test, oom_error_reply_fails_with_oom) {
  redis_misbehaving_server oom(redis_misbehaving_server::mode::fixed_answer,
                               "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
  auto probe = make(oom.port());

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "oom");
}

TEST_F(redis_probe_test, wrong_reply_type_to_ping_fails_with_protocol) {
  redis_misbehaving_server odd(redis_misbehaving_server::mode::fixed_answer, ":42\r\n");
  auto probe = make(odd.port());

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "protocol");
  EXPECT_NE(r.error.find("PING"), std::string::npos) << r.error;
}

TEST_F(redis_probe_test, server_busy_with_a_script_fails_with_busy) {
  redis_server server({"--busy-reply-threshold", "50"});
  // A script that never ends, run from its own blocking client.
  std::thread looping([port = server.port()] {
    try {
      redis_sync_client(port).command({"EVAL", "while true do end", "0"});
    } catch (const std::exception&) {
    }
  });
  std::this_thread::sleep_for(200ms);
  auto probe = make(server.port());

  auto r = run(probe);

  redis_sync_client(server.port()).command({"SCRIPT", "KILL"});
  looping.join();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "busy") << r.error;
}

TEST_F(redis_probe_test, unresolvable_name_fails_with_resolve) {
  redis_probe::settings s;
  s.host = "no-such-host.invalid";
  redis_probe probe(std::move(s), ctx);

  auto r = run(probe);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "resolve");
}

TEST_F(redis_probe_test, host_name_is_resolved_with_asio) {
  redis_server server;
  redis_probe::settings s;
  s.host = "localhost";
  s.port = server.port();
  redis_probe probe(std::move(s), ctx);

  auto r = run(probe);

  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NE(evidence_of(r, "resolved").find("localhost -> "), std::string::npos);
}

}  // namespace
}  // namespace vitals
