// The evidence a healthy redis run shows, from INFO text alone.

#include "probes/redis/redis_summary.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

std::string memory_evidence(const std::string& info_text, const redis_run_facts& facts) {
  const auto result = summarize(parse_redis_info(info_text), facts);
  for (const auto& [key, value] : result.evidence)
    if (key == "memory") return value;
  return "";
}

TEST(redis_summary, a_small_share_of_host_memory_keeps_enough_digits_to_be_non_zero) {
  // 11.8 MiB of RSS on a host with 23.5 GiB: 0.049%, not 0.0%.
  redis_run_facts facts;
  facts.local = true;
  facts.limit = {"system", 23.5 * 1024 * 1024 * 1024};
  const auto text = memory_evidence("# Memory\r\nused_memory:1048576\r\nused_memory_rss:12373196\r\n", facts);
  EXPECT_NE(text.find("of 23.5 GiB host memory (0.049%)"), std::string::npos) << text;
}

TEST(redis_summary, larger_shares_read_as_whole_or_one_decimal_percent) {
  const redis_run_facts facts;
  EXPECT_NE(memory_evidence("used_memory:943718400\r\nmaxmemory:1073741824\r\n", facts).find("maxmemory (88%)"),
            std::string::npos);
  EXPECT_NE(memory_evidence("used_memory:53687091\r\nmaxmemory:1073741824\r\n", facts).find("maxmemory (5.0%)"),
            std::string::npos);
  EXPECT_NE(memory_evidence("used_memory:0\r\nmaxmemory:1073741824\r\n", facts).find("maxmemory (0%)"),
            std::string::npos);
}

}  // namespace
}  // namespace vitals
