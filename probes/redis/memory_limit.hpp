#pragma once

// The memory a local Redis without maxmemory can grow into: its cgroup's
// limit (v2 or v1) when that is tighter than the host's memory, else the
// host's memory. Blocking file reads: call on the pool only.

#include <optional>
#include <string>

namespace vitals {

struct memory_limit {
  std::string source;  // "cgroup" | "system"; empty when neither could be read
  double bytes = 0;
};

// `pid`: the server's pid as it reports it (INFO process_id); its cgroup is
// read only when that pid here looks like a Redis (same pid namespace).
memory_limit local_memory_limit(std::optional<long> pid);

}  // namespace vitals
