#pragma once

// The memory limit a process lives under: the tightest of its control
// groups' limits, cgroup v2 (`memory.max`) and v1 (`memory.limit_in_bytes`)
// alike, from its cgroup up to the root. Blocking file reads: pool only.

#include <chrono>
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

// Reads limits under `root` (v2 at root, v1 at root/memory). Each cgroup is
// read once per run (next_run()): the workers of one service share one.
// Finding the limit walks every level up to the root; that answer is kept
// for `limits_max_age` (a limit changed with `systemctl set-property` shows
// within that time), while the usage of the cgroup that sets it is read on
// every run. Cgroups no match used in the last run are forgotten. Not
// thread-safe: one scan at a time.
class cgroup_memory_reader {
public:
  static constexpr std::chrono::seconds default_limits_max_age{30};

  explicit cgroup_memory_reader(std::string root = "/sys/fs/cgroup") : root_(std::move(root)) {}

  const cgroup_memory& of(const cgroup_paths& paths);
  // The same for a process by pid, reading `proc_root`/<pid>/cgroup.
  cgroup_memory of_pid(long pid, const std::string& proc_root = "/proc");

  // Starts a run: what of() answers from here on is read anew once.
  void next_run();
  void set_limits_max_age(std::chrono::steady_clock::duration d) { limits_max_age_ = d; }

private:
  struct entry {
    cgroup_memory memory;
    std::string current_file;  // the usage file of the cgroup that sets the limit
    std::chrono::steady_clock::time_point walked_at{};
    std::uint64_t run = 0;  // the run that last read it
  };
  void walk(std::string path, const char* dir, const char* max_file, const char* current_file, entry& out);

  std::string root_;
  std::chrono::steady_clock::duration limits_max_age_ = default_limits_max_age;
  std::map<std::string, entry> cache_;
  std::uint64_t run_ = 1;
};

}  // namespace vitals
