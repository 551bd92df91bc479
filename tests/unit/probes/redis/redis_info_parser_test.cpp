// INFO parsing without a server: sections, keyspace, errorstats, and the
// shapes a newer or older server might add.

#include "probes/core/units.hpp"
#include "probes/redis/info_parser.hpp"

#include <gtest/gtest.h>

namespace vitals {
namespace {

constexpr std::string_view sample_info =
    "# Server\r\n"
    "redis_version:7.0.15\r\n"
    "process_id:4242\r\n"
    "\r\n"
    "# Memory\r\n"
    "used_memory:956301312\r\n"
    "used_memory_human:912.00M\r\n"
    "maxmemory:1073741824\r\n"
    "maxmemory_policy:allkeys-lru\r\n"
    "mem_fragmentation_ratio:1.23\r\n"
    "\r\n"
    "# Stats\r\n"
    "evicted_keys:17\r\n"
    "keyspace_hits:90\r\n"
    "keyspace_misses:10\r\n"
    "\r\n"
    "# Errorstats\r\n"
    "errorstat_ERR:count=2\r\n"
    "errorstat_OOM:count=31\r\n"
    "errorstat_NOAUTH:count=5\r\n"
    "\r\n"
    "# Keyspace\r\n"
    "db0:keys=1200,expires=3,avg_ttl=0\r\n"
    "db3:keys=7,expires=0,avg_ttl=0\r\n";

TEST(redis_info_parser, fields_carry_their_lower_case_section) {
  const auto info = parse_redis_info(sample_info);
  ASSERT_NE(info.find("redis_version"), nullptr);
  EXPECT_EQ(*info.find("redis_version"), "7.0.15");
  const auto it = std::find_if(info.fields.begin(), info.fields.end(), [](auto& f) { return f.key == "maxmemory"; });
  ASSERT_NE(it, info.fields.end());
  EXPECT_EQ(it->section, "memory");
}

TEST(redis_info_parser, numbers_parse_and_text_does_not) {
  const auto info = parse_redis_info(sample_info);
  EXPECT_EQ(info.number("used_memory"), 956301312.0);
  EXPECT_EQ(info.unsigned_number("maxmemory"), 1073741824u);
  EXPECT_DOUBLE_EQ(*info.number("mem_fragmentation_ratio"), 1.23);
  EXPECT_FALSE(info.number("used_memory_human").has_value());
  EXPECT_FALSE(info.number("absent").has_value());
  EXPECT_EQ(info.find("absent"), nullptr);
}

TEST(redis_info_parser, keyspace_lines_become_entries) {
  const auto info = parse_redis_info(sample_info);
  ASSERT_EQ(info.keyspace.size(), 2u);
  EXPECT_EQ(info.keyspace[0].db, 0);
  EXPECT_EQ(info.keyspace[0].keys, 1200u);
  EXPECT_EQ(info.keyspace[0].expires, 3u);
  EXPECT_EQ(info.keyspace[1].db, 3);
  EXPECT_EQ(info.keyspace[1].keys, 7u);
}

TEST(redis_info_parser, errorstats_are_sorted_most_frequent_first) {
  const auto info = parse_redis_info(sample_info);
  ASSERT_EQ(info.errorstats.size(), 3u);
  EXPECT_EQ(info.errorstats[0].error, "OOM");
  EXPECT_EQ(info.errorstats[0].count, 31u);
  EXPECT_EQ(info.errorstats[1].error, "NOAUTH");
  EXPECT_EQ(info.errorstats[2].error, "ERR");
}

TEST(redis_info_parser, odd_lines_are_skipped_and_bare_newlines_work) {
  const auto info = parse_redis_info("# Server\nno colon here\n:leading colon\nredis_version:6.2.1\n#\nx:1:2\n");
  EXPECT_EQ(*info.find("redis_version"), "6.2.1");
  EXPECT_EQ(*info.find("x"), "1:2");  // values may contain colons
  EXPECT_EQ(info.fields.size(), 2u);
}

TEST(redis_info_parser, empty_text_gives_nothing) {
  const auto info = parse_redis_info("");
  EXPECT_TRUE(info.fields.empty());
  EXPECT_TRUE(info.keyspace.empty());
  EXPECT_TRUE(info.errorstats.empty());
}

TEST(redis_info_parser, info_pairs_split_on_commas_and_equals) {
  const auto pairs = parse_info_pairs("keys=1,expires=0,avg_ttl=0,broken,x=");
  ASSERT_EQ(pairs.size(), 4u);
  EXPECT_EQ(pairs[0], (std::pair<std::string, std::string>{"keys", "1"}));
  EXPECT_EQ(pairs[3], (std::pair<std::string, std::string>{"x", ""}));
}

TEST(redis_info_parser, bytes_are_formatted_in_binary_units) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(956301312), "912.0 MiB");
  EXPECT_EQ(format_bytes(1073741824), "1.0 GiB");
}

}  // namespace
}  // namespace vitals
