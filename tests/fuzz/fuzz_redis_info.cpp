// Redis' INFO reply parser and its "k=v,k=v" value splitter: the text comes
// from whatever answers on the probe's address.
//
// Promises checked beyond "no crash": a parsed field is found by its key;
// error statistics come most frequent first.

#include "fuzz_input.hpp"

#include "probes/redis/info_parser.hpp"

#include <algorithm>
#include <string_view>

namespace {

// The keys the Redis probe reads (probes/redis/).
constexpr std::string_view probe_keys[] = {
    "connected_clients", "evicted_keys",     "keyspace_hits",   "keyspace_misses",
    "maxmemory",         "maxmemory_policy", "mem_fragmentation_ratio", "process_id",
    "redis_version",     "rejected_connections", "used_memory", "used_memory_peak",
    "used_memory_rss"};

// find() is a linear scan, as the probe uses it for a handful of keys:
// checking every field of a long reply would make one run quadratic.
constexpr std::size_t fields_checked = 32;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using vitals::fuzz::require;
  const auto text = vitals::fuzz::as_text(data, size);
  const auto info = vitals::parse_redis_info(text);
  for (std::size_t i = 0; i < std::min(info.fields.size(), fields_checked); ++i)
    require(info.find(info.fields[i].key) != nullptr, "a parsed field is not found by its key");
  for (const auto key : probe_keys) {
    (void)info.number(key);
    (void)info.unsigned_number(key);
  }
  for (const auto& f : info.fields) (void)vitals::parse_info_pairs(f.value);
  for (std::size_t i = 1; i < info.errorstats.size(); ++i)
    require(info.errorstats[i - 1].count >= info.errorstats[i].count, "error statistics are not most frequent first");
  return 0;
}
