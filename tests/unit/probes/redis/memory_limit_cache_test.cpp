// When the redis probe reads a local server's memory limit again: only for
// another server (run_id, process_id), a changed maxmemory, or a reading
// older than a minute. Pure: no server, no clock.

#include "probes/redis/memory_limit_cache.hpp"

#include <gtest/gtest.h>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using server = memory_limit_cache::server;

const memory_limit_cache::clock::time_point t0{1000s};
const server cache_server{"3f2a9c", 4242, 0};

memory_limit_cache holding(const memory_limit& limit) {
  memory_limit_cache cache;
  cache.store(cache_server, limit, t0);
  return cache;
}

TEST(memory_limit_cache, empty_cache_asks_for_a_read) {
  memory_limit_cache cache;
  EXPECT_EQ(cache.find(cache_server, t0), nullptr);
}

TEST(memory_limit_cache, same_server_within_a_minute_reuses_the_limit) {
  const auto cache = holding({"cgroup", 512.0 * 1024 * 1024});

  const auto* found = cache.find(cache_server, t0 + 59s);

  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->source, "cgroup");
  EXPECT_EQ(found->bytes, 512.0 * 1024 * 1024);
}

TEST(memory_limit_cache, limit_older_than_a_minute_is_read_again) {
  const auto cache = holding({"system", 8e9});
  EXPECT_EQ(cache.find(cache_server, t0 + 60s), nullptr);
}

TEST(memory_limit_cache, restarted_server_with_a_new_run_id_is_read_again) {
  const auto cache = holding({"system", 8e9});
  server restarted = cache_server;
  restarted.run_id = "77b0e1";
  EXPECT_EQ(cache.find(restarted, t0 + 1s), nullptr);
}

TEST(memory_limit_cache, new_process_id_is_read_again) {
  const auto cache = holding({"system", 8e9});
  server moved = cache_server;
  moved.process_id = 4243;
  EXPECT_EQ(cache.find(moved, t0 + 1s), nullptr);
}

TEST(memory_limit_cache, changed_maxmemory_is_read_again) {
  const auto cache = holding({"system", 8e9});
  server reconfigured = cache_server;
  reconfigured.maxmemory = 64.0 * 1024 * 1024;
  EXPECT_EQ(cache.find(reconfigured, t0 + 1s), nullptr);
}

TEST(memory_limit_cache, a_new_reading_replaces_the_old_one) {
  auto cache = holding({"system", 8e9});
  server restarted = cache_server;
  restarted.run_id = "77b0e1";

  cache.store(restarted, {"cgroup", 1e9}, t0 + 5s);

  EXPECT_EQ(cache.find(cache_server, t0 + 6s), nullptr);
  ASSERT_NE(cache.find(restarted, t0 + 6s), nullptr);
  EXPECT_EQ(cache.find(restarted, t0 + 6s)->bytes, 1e9);
}

}  // namespace
}  // namespace vitals
