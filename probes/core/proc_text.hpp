#pragma once

// Small readers for /proc text shared by the probes that name processes
// (port owners, process matches, SQLite lock holders). Safe on any thread.

#include <sys/types.h>

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

// Whole-text integer parse: "42" yes, "42x" and "" no.
template <class Int>
bool parse_int(std::string_view text, Int& value, int base = 10) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return ec == std::errc() && end == text.data() + text.size();
}

// Reads a whole /proc file (their size shows as 0: read until EOF) with
// plain syscalls: no stdio buffer, no fstat. Returns 0 or the errno.
int read_proc_text(const std::string& path, std::string& out);

// The same for a file the kernel writes in one piece on the first read
// (/proc/PID/stat, status, comm, limits, cgroup; a cgroup's limit file):
// a read that fills less than the buffer has all of it, so the read that
// would find the end is skipped. Longer texts are read on to the end.
int read_proc_record(const std::string& path, std::string& out);

// Fields separated by spaces, tabs or newlines; empty fields dropped.
std::vector<std::string_view> split_whitespace(std::string_view text);

// True, with `pid` set, when a /proc entry name is a process id.
bool is_pid(const char* name, int& pid);

// The fields of /proc/<pid>/stat the probes use.
struct proc_stat {
  std::string comm;
  char state = '?';
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t start_ticks = 0;  // clock ticks after boot: with the pid, names one process for good
  std::int64_t rss_pages = 0;
};
// Parses /proc/<pid>/stat text; nullopt when malformed.
std::optional<proc_stat> parse_proc_stat(const std::string& text);

// Clock ticks per second of /proc's times (sysconf(_SC_CLK_TCK)).
long clock_ticks_per_second();
// Now on the clock of proc_stat::start_ticks (CLOCK_BOOTTIME), in clock ticks.
std::uint64_t boot_clock_ticks();
// True while a process that started at `start_ticks` is younger than
// `settle`: the time in which processes exec, rename themselves, drop
// privileges and set their titles. Caches of what a process is read it
// again on every run until then.
bool still_settling(std::uint64_t start_ticks, std::chrono::steady_clock::duration settle,
                    std::uint64_t now_ticks = boot_clock_ticks());

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
void truncate_utf8(std::string& s, std::size_t max);

// uid -> user name, each uid looked up once. Not thread-safe: one per scan.
class user_names {
public:
  const std::string& name(uid_t uid);

private:
  std::map<uid_t, std::string> names_;
};

// Who a process is: what `ps -o pid,user,comm,args` shows.
struct process_identity {
  int pid = 0;
  std::string process;  // comm
  uid_t uid = 0;
  std::string user;     // name, or the uid as text when unknown
  // argv joined by spaces, secret-looking arguments redacted
  // (redact_command_line), cut at max_cmdline bytes and then "…".
  std::string cmdline;
  std::string exe_name; // basename of argv[0]: the full name when comm (15 bytes) is cut short

  static constexpr std::size_t max_cmdline = 200;

  // True when `name` is this process's comm or the basename of its argv[0].
  bool is_named(std::string_view name) const { return name == process || name == exe_name; }
};

// Reads comm, the effective uid and cmdline of `pid` from `proc_dir`
// ("/proc/4242"). nullopt when the process vanished or is unreadable.
std::optional<process_identity> read_process_identity(const std::string& proc_dir, int pid, user_names& users);

}  // namespace vitals
