#pragma once

#include "probes/core/cgroup_memory.hpp"
#include "probes/core/proc_text.hpp"
#include "probes/core/user_regex.hpp"
#include "probes/process/rss_growth_tracker.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
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
  std::size_t pids_read = 0;       // pids whose /proc files this scan read; the others it knew
  std::chrono::steady_clock::time_point taken_at{};
  std::uint64_t now_ticks = 0;     // CLOCK_BOOTTIME in clock ticks at the scan: a match's age
};

// Walks `proc_root` (a /proc-like tree) for the processes a matcher
// selects and measures them, with memory limits read under `cgroup_root`.
//
// It remembers between scans what each listed pid was, keyed by the inode
// of its /proc entry and its start time (a reused pid is another process),
// so a scan lists /proc and reads the files of these pids only:
//   * pids not seen before, and any under a new /proc entry (a reused pid
//     gets one) or, for matches, with another start time;
//   * matches (and matching zombies): stat (RSS, CPU, name, state) and the
//     fd table on every scan, cmdline with a cmdline matcher and status
//     with a user matcher; their user name, command line, limits and cgroup
//     are kept from their last full read;
//   * processes younger than `settle_time`, read in full on every scan: the
//     time in which a process execs, renames itself, drops privileges and
//     sets its title;
//   * every other pid once more between `recheck_after` and twice that
//     after its last full read, so a process that later execs or renames
//     itself into a match is found within that time.
// Pids that vanished from /proc are forgotten. A pidfile matcher reads its
// one pid in full on every scan and remembers nothing.
//
// Thread-safe: scans run one at a time (a scan abandoned by its run's
// deadline finishes before the next one starts). Throws nothing but
// std::bad_alloc.
class process_scanner {
public:
  struct timing {
    std::chrono::steady_clock::duration settle_time = std::chrono::seconds(10);
    std::chrono::steady_clock::duration recheck_after = std::chrono::seconds(30);
    // How long a cgroup's memory limit is taken as known (its usage is read every scan).
    std::chrono::steady_clock::duration cgroup_limits_max_age = cgroup_memory_reader::default_limits_max_age;
  };

  explicit process_scanner(process_matcher matcher, std::string proc_root = "/proc",
                           std::string cgroup_root = "/sys/fs/cgroup");
  process_scanner(process_matcher matcher, std::string proc_root, std::string cgroup_root, timing t);

  process_scan_result scan();
  bool remembers(int pid) const;  // whether earlier scans left something known about `pid`

private:
  enum class verdict { no_match, match, zombie, unreadable };
  // What a match's last full read learnt, measured again on each scan.
  struct match_details {
    process_info info;  // its user, command line and limits
    cgroup_paths cgroup;
  };
  // What a scan learnt about one pid.
  struct known_process {
    ino_t inode = 0;                 // of /proc/<pid> when read; another inode may be another process
    std::uint64_t start_ticks = 0;   // 0 when stat was not readable
    verdict seen = verdict::no_match;
    std::chrono::steady_clock::time_point recheck_at{};
    std::unique_ptr<match_details> match;  // matches only: most pids never match
  };
  class run;  // one scan's readers and result

  bool can_skip(const known_process& k, ino_t inode, const run& r) const;
  // `before` is what an earlier scan left for this pid; its match details may be moved out.
  std::optional<known_process> examine(int pid, ino_t inode, known_process* before, run& r) const;
  bool read_identity(const std::string& dir, const proc_stat& stat, known_process* kept, known_process& k,
                     run& r) const;
  bool measure(int pid, const std::string& dir, const proc_stat& stat, bool full, known_process& k, run& r) const;

  const process_matcher matcher_;
  const std::string proc_root_;
  const std::string cgroup_root_;
  const timing timing_;
  mutable std::mutex mutex_;
  std::unordered_map<int, known_process> known_;  // by pid; guarded by mutex_
  cgroup_memory_reader limits_;                   // guarded by mutex_
};

// One scan that remembers nothing: reads every pid in full.
process_scan_result scan_processes(const process_matcher& matcher, const std::string& proc_root = "/proc",
                                   const std::string& cgroup_root = "/sys/fs/cgroup");

// The soft "Max open files" of /proc/<pid>/limits text; nullopt when
// unlimited or absent. (parse_proc_stat is in probes/core/proc_text.hpp.)
std::optional<std::uint64_t> parse_max_open_files(const std::string& limits_text);

}  // namespace vitals
