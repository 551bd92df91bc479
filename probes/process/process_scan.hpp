#pragma once

#include "probes/core/user_regex.hpp"
#include "probes/process/rss_growth_tracker.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vitals {

// Which processes a process probe looks at. Every matcher that is set must
// hold (AND). Immutable once built, so pool threads may share it.
struct process_matcher {
  std::optional<std::string> name;      // comm, exactly (at most 15 bytes, as the kernel keeps it)
  std::optional<std::string> cmdline;   // the regex's text, searched in argv joined by spaces
  std::optional<user_regex> cmdline_regex;
  std::optional<std::string> pidfile;   // path of a file holding one pid
  std::optional<std::string> user;      // as written in the config
  std::optional<uid_t> uid;             // the user's uid (effective uid of the process)

  // "name=node,cmdline=server\.js": for target() and error messages.
  std::string describe() const;
};

// One matching process, measured. Plain data, made on a pool thread.
struct process_info {
  process_key key;
  std::string comm;
  uid_t uid = 0;
  std::string user;                     // name, or the uid as text
  std::string cmdline;                  // argv joined by spaces, secret-looking arguments redacted
                                        // (redact_command_line), cut at max_cmdline bytes ("…" then)
  std::uint64_t rss_bytes = 0;
  double cpu_seconds = 0;               // utime + stime
  std::optional<std::size_t> open_fds;  // nullopt: /proc/<pid>/fd not readable
  std::optional<std::uint64_t> max_fds; // soft "Max open files"; nullopt: unlimited or unknown
  std::string cgroup;                   // v2 path ("/system.slice/app.service"), else the v1 memory path; empty if unknown
  // Tightest memory limit (v2 memory.max, v1 memory.limit_in_bytes) on the
  // cgroup's path to the root, and that cgroup's usage; nullopt when no
  // ancestor sets a limit.
  std::optional<std::uint64_t> cgroup_memory_max;
  std::optional<std::uint64_t> cgroup_memory_current;
  std::string cgroup_limited_by;        // the cgroup whose memory.max is the tightest

  static constexpr std::size_t max_cmdline = 200;
};

// What one scan found. Skipped processes are counted, never fatal.
struct process_scan_result {
  std::vector<process_info> matches;
  std::size_t vanished = 0;        // exited between listing and reading (ENOENT/ESRCH)
  std::size_t zombies = 0;         // state Z whose name/user/pid matched
  std::size_t unreadable = 0;      // /proc/<pid> entries we may not read (EACCES, hidepid)
  std::size_t fds_unreadable = 0;  // matches whose /proc/<pid>/fd is not readable: open_fds unknown
  // Set when the pidfile names no usable pid: why, e.g.
  // "pidfile /run/app.pid: No such file or directory" or
  // "pidfile /run/app.pid names pid 4242, which is not running".
  std::string pidfile_problem;
  std::chrono::steady_clock::time_point taken_at{};
};

// Blocking walk of `proc_root` (a /proc-like tree) with memory limits read
// under `cgroup_root`. Safe on any thread; throws nothing but
// std::bad_alloc.
process_scan_result scan_processes(const process_matcher& matcher, const std::string& proc_root = "/proc",
                                   const std::string& cgroup_root = "/sys/fs/cgroup");

// Parsing helpers, exposed for unit tests.
struct proc_stat {
  std::string comm;
  char state = '?';
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t start_ticks = 0;
  std::int64_t rss_pages = 0;
};
// Parses /proc/<pid>/stat text; nullopt when malformed.
std::optional<proc_stat> parse_proc_stat(const std::string& text);
// The soft "Max open files" of /proc/<pid>/limits text; nullopt when
// unlimited or absent.
std::optional<std::uint64_t> parse_max_open_files(const std::string& limits_text);

}  // namespace vitals
