#pragma once

// When the memory limit of a local Redis without maxmemory has to be read
// again. The limit (its cgroup's or the host's memory) only changes when the
// server does: another process (a restart, a failover to a new run_id) may
// sit in another cgroup, and a changed maxmemory is a reconfigured server.
// Anything else (a cgroup limit raised in place, memory added to a VM) is
// caught by the age limit. Pure: no I/O, no clock; tested without a server
// (tests/unit/probes/redis/memory_limit_cache_test.cpp).

#include "probes/redis/memory_limit.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace vitals {

class memory_limit_cache {
public:
  using clock = std::chrono::steady_clock;
  static constexpr clock::duration max_age = std::chrono::seconds(60);

  // Which server a limit was read for, from its INFO.
  struct server {
    std::string run_id;
    std::optional<long> process_id;
    double maxmemory = 0;
    bool operator==(const server&) const = default;
  };

  // The limit read for `s` less than max_age before `now`, or null: read it.
  const memory_limit* find(const server& s, clock::time_point now) const;
  void store(server s, memory_limit limit, clock::time_point now);

private:
  struct entry {
    server read_for;
    memory_limit limit;
    clock::time_point read_at;
  };
  std::optional<entry> entry_;
};

}  // namespace vitals
