#include "probes/redis/memory_limit.hpp"

#include "probes/core/cgroup_memory.hpp"
#include "probes/core/proc_text.hpp"

#include <fstream>

namespace vitals {

namespace {

std::optional<double> host_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemTotal:") return kib * 1024;
  return std::nullopt;
}

// Whether `pid` in our /proc is plausibly the server we talk to (and not a
// process of another pid namespace that happens to share the number).
bool looks_like_redis(long pid) {
  std::string comm;
  if (read_proc_text("/proc/" + std::to_string(pid) + "/comm", comm) != 0) return false;
  return comm.rfind("redis", 0) == 0 || comm.rfind("valkey", 0) == 0 || comm.rfind("keydb", 0) == 0;
}

}  // namespace

memory_limit local_memory_limit(std::optional<long> pid) {
  const auto system = host_memory();
  if (pid && *pid > 0 && looks_like_redis(*pid)) {
    const auto cgroup = cgroup_memory_reader().of_pid(*pid).max;
    if (cgroup && (!system || static_cast<double>(*cgroup) < *system))
      return {"cgroup", static_cast<double>(*cgroup)};
  }
  if (system) return {"system", *system};
  return {};
}

}  // namespace vitals
