#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vitals {

// The reply of Redis' INFO command, parsed. Pure: no I/O, tested without a
// server (tests/unit/probes/redis/redis_info_parser_test.cpp).
struct redis_info {
  struct field {
    std::string section;  // "memory", lower case, as in "# Memory"
    std::string key;
    std::string value;
  };
  struct keyspace_entry {
    int db = 0;
    std::uint64_t keys = 0;
    std::uint64_t expires = 0;
  };
  struct error_stat {
    std::string error;  // "OOM", from "errorstat_OOM:count=3"
    std::uint64_t count = 0;
  };

  std::vector<field> fields;             // in reply order
  std::vector<keyspace_entry> keyspace;  // "# Keyspace": db0:keys=1,expires=0,avg_ttl=0
  std::vector<error_stat> errorstats;    // "# Errorstats", most frequent first

  // The value of `key` in any section, or null.
  const std::string* find(std::string_view key) const;
  // The value of `key` as a number, or nullopt when absent or not numeric.
  std::optional<double> number(std::string_view key) const;
  std::optional<std::uint64_t> unsigned_number(std::string_view key) const;
};

// Parses INFO's "# Section\r\nkey:value\r\n" text. Lines that fit no known
// shape are skipped, so a newer server's additions never break a run.
redis_info parse_redis_info(std::string_view text);

// Splits "keys=1,expires=0,avg_ttl=0" into pairs.
std::vector<std::pair<std::string, std::string>> parse_info_pairs(std::string_view value);

}  // namespace vitals
