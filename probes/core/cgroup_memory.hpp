#pragma once

// The memory limit a process lives under: the tightest of its control
// groups' limits, cgroup v2 (`memory.max`) and v1 (`memory.limit_in_bytes`)
// alike, from its cgroup up to the root. Blocking file reads: pool only.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vitals {

// Where a process sits in each hierarchy, from /proc/<pid>/cgroup.
struct cgroup_paths {
  std::optional<std::string> v2;         // "0::/system.slice/app.service" -> "/system.slice/app.service"
  std::optional<std::string> v1_memory;  // "4:memory:/docker/abc" -> "/docker/abc"
};
cgroup_paths parse_cgroup_paths(std::string_view proc_cgroup_text);

struct cgroup_memory {
  std::optional<std::uint64_t> max;      // the tightest limit; nullopt: none set anywhere
  std::optional<std::uint64_t> current;  // usage of the cgroup that sets it, when readable
  std::string limited_by;                // that cgroup's path ("/system.slice")
};

// Reads limits under `root` (v2 at root, v1 at root/memory), caching each
// path for the reader's life: the workers of one service share a cgroup,
// so one scan reads each limit once. Not thread-safe; one per scan.
class cgroup_memory_reader {
public:
  explicit cgroup_memory_reader(std::string root = "/sys/fs/cgroup") : root_(std::move(root)) {}

  const cgroup_memory& of(const cgroup_paths& paths);
  // The same for a process by pid, reading `proc_root`/<pid>/cgroup.
  cgroup_memory of_pid(long pid, const std::string& proc_root = "/proc");

private:
  void walk(std::string path, const char* dir, const char* max_file, const char* current_file, cgroup_memory& out);

  std::string root_;
  std::map<std::string, cgroup_memory> cache_;
};

}  // namespace vitals
