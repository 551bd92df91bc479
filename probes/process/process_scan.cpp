#include "probes/process/process_scan.hpp"

#include "probes/core/cgroup_memory.hpp"
#include "probes/core/command_line_redaction.hpp"

#include "probes/core/proc_text.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string_view>

namespace vitals {

namespace {

// How reading one /proc/<pid> file went.
enum class read_outcome { ok, vanished, denied };

read_outcome classify(int err) {
  if (err == 0) return read_outcome::ok;
  if (err == EACCES || err == EPERM) return read_outcome::denied;
  // ENOENT/ESRCH: the process exited; anything else (EIO, ...) we treat
  // the same way, since the process is not there to measure.
  return read_outcome::vanished;
}

read_outcome read_proc_file(const std::string& path, std::string& out) {
  const int err = read_proc_text(path, out);
  // An exited process's files can open fine and then read as empty.
  if (err == 0 && out.empty()) return read_outcome::vanished;
  return classify(err);
}

// Entries of /proc/<pid>/fd, or the errno of opening it.
int count_fds(const std::string& dir, std::size_t& count) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno;
  count = 0;
  while (const dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    ++count;
  }
  ::closedir(d);
  return 0;
}

// The pid a pidfile names, or why there is none.
std::optional<int> read_pidfile(const std::string& path, std::string& problem) {
  std::string text;
  if (const int err = read_proc_text(path, text); err != 0) {
    problem = "pidfile " + path + ": " + std::strerror(err);
    return std::nullopt;
  }
  const auto fields = split_whitespace(text);
  int pid = 0;
  if (fields.empty() || !parse_int(fields.front(), pid) || pid <= 0) {
    std::string shown(fields.empty() ? std::string_view() : fields.front());
    truncate_utf8(shown, 32);
    problem = "pidfile " + path + " holds no pid (\"" + shown + "\")";
    return std::nullopt;
  }
  return pid;
}

const long clock_ticks_per_second = [] {
  const long t = ::sysconf(_SC_CLK_TCK);
  return t > 0 ? t : 100;
}();

const long page_bytes = [] {
  const long p = ::sysconf(_SC_PAGESIZE);
  return p > 0 ? p : 4096;
}();

}  // namespace

std::string process_matcher::describe() const {
  std::string text;
  auto add = [&](std::string_view key, const std::optional<std::string>& value) {
    if (!value) return;
    if (!text.empty()) text += ",";
    text += std::string(key) + "=" + *value;
  };
  add("name", name);
  add("cmdline", cmdline);
  add("pidfile", pidfile);
  add("user", user);
  return text;
}

std::optional<proc_stat> parse_proc_stat(const std::string& text) {
  // "pid (comm) state ..." where comm may itself hold spaces and ')'.
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  proc_stat s;
  s.comm = text.substr(open + 1, close - open - 1);
  const auto fields = split_whitespace(std::string_view(text).substr(close + 1));
  // fields[0] is field 3 (state) of proc(5); field n is fields[n - 3].
  if (fields.size() < 22 || fields[0].size() != 1) return std::nullopt;
  s.state = fields[0][0];
  if (!parse_int(fields[11], s.utime_ticks) || !parse_int(fields[12], s.stime_ticks) ||
      !parse_int(fields[19], s.start_ticks) || !parse_int(fields[21], s.rss_pages))
    return std::nullopt;
  return s;
}

std::optional<std::uint64_t> parse_max_open_files(const std::string& limits_text) {
  constexpr std::string_view label = "Max open files";
  const auto at = limits_text.find(label);
  if (at == std::string::npos) return std::nullopt;
  const auto end = limits_text.find('\n', at);
  const auto fields = split_whitespace(std::string_view(limits_text).substr(at + label.size(), end - at - label.size()));
  std::uint64_t soft = 0;
  if (fields.empty() || !parse_int(fields.front(), soft)) return std::nullopt;  // "unlimited"
  return soft;
}

process_scan_result scan_processes(const process_matcher& matcher, const std::string& proc_root,
                                   const std::string& cgroup_root) {
  process_scan_result result;
  user_names users;
  cgroup_memory_reader limits(cgroup_root);  // workers of one service share a cgroup: read once

  std::vector<int> pids;
  if (matcher.pidfile) {
    // Only the pidfile's pid can match: no need to list /proc.
    if (auto pid = read_pidfile(*matcher.pidfile, result.pidfile_problem)) pids.push_back(*pid);
  } else if (DIR* d = ::opendir(proc_root.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      int pid = 0;
      if (is_pid(e->d_name, pid)) pids.push_back(pid);
    }
    ::closedir(d);
  }

  auto skip = [&](read_outcome o) {
    if (o == read_outcome::denied)
      ++result.unreadable;
    else
      ++result.vanished;
  };

  for (const int pid : pids) {
    const std::string dir = proc_root + "/" + std::to_string(pid);
    std::string text;
    if (auto o = read_proc_file(dir + "/stat", text); o != read_outcome::ok) {
      if (matcher.pidfile) {
        if (o == read_outcome::vanished)
          result.pidfile_problem =
              "pidfile " + *matcher.pidfile + " names pid " + std::to_string(pid) + ", which is not running";
        else
          skip(o);
      } else {
        skip(o);
      }
      continue;
    }
    const auto stat = parse_proc_stat(text);
    if (!stat) {
      ++result.vanished;  // a torn read of a dying process
      continue;
    }
    if (matcher.name && stat->comm != *matcher.name) continue;

    // Cheapest test first: most processes fail the name or the command line,
    // and never cost a read of status.
    const bool zombie = stat->state == 'Z';  // no memory, fds or argv left; its parent has not reaped it
    std::string cmdline;
    if (zombie) {
      if (matcher.cmdline_regex) continue;  // no argv: we cannot tell whether it matched
    } else {
      // cmdline reads as empty for kernel threads too, so an empty read is
      // not "vanished" here: stat already told us the process exists.
      if (const int err = read_proc_text(dir + "/cmdline", cmdline); err != 0) {
        skip(classify(err));
        continue;
      }
      while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (matcher.cmdline_regex && !matcher.cmdline_regex->matches(cmdline)) continue;
    }

    if (auto o = read_proc_file(dir + "/status", text); o != read_outcome::ok) {
      skip(o);
      continue;
    }
    uid_t uid = 0;
    {
      const auto uid_at = text.find("\nUid:");
      if (uid_at == std::string::npos) {
        ++result.vanished;
        continue;
      }
      const auto line_end = text.find('\n', uid_at + 1);
      const auto fields = split_whitespace(std::string_view(text).substr(uid_at + 5, line_end - uid_at - 5));
      // Effective uid, the USER column of ps.
      if (fields.size() < 2 || !parse_int(fields[1], uid)) {
        ++result.vanished;
        continue;
      }
    }
    if (matcher.uid && uid != *matcher.uid) continue;
    if (zombie) {
      ++result.zombies;
      continue;
    }

    process_info info;
    info.key = {pid, stat->start_ticks};
    info.comm = stat->comm;
    info.uid = uid;
    info.user = users.name(uid);
    // Redacted before the cut, which could leave a password without the
    // "--password=" that marks it. A cut says so ("…"), which also lets the
    // config's secrets hide a part the cut left (redactor).
    info.cmdline = redact_command_line(cmdline);
    if (info.cmdline.size() > process_info::max_cmdline) {
      truncate_utf8(info.cmdline, process_info::max_cmdline);
      info.cmdline += "…";
    }
    info.rss_bytes = stat->rss_pages > 0 ? static_cast<std::uint64_t>(stat->rss_pages) * page_bytes : 0;
    info.cpu_seconds =
        static_cast<double>(stat->utime_ticks + stat->stime_ticks) / static_cast<double>(clock_ticks_per_second);

    std::size_t fds = 0;
    if (const int err = count_fds(dir + "/fd", fds); err == 0) {
      info.open_fds = fds;
    } else if (classify(err) == read_outcome::vanished) {
      ++result.vanished;
      continue;
    } else {
      ++result.fds_unreadable;  // still counted and measured; only its fds are unknown
    }

    if (read_proc_file(dir + "/limits", text) == read_outcome::ok) info.max_fds = parse_max_open_files(text);
    if (read_proc_file(dir + "/cgroup", text) == read_outcome::ok) {
      const auto paths = parse_cgroup_paths(text);
      info.cgroup = paths.v2.value_or(paths.v1_memory.value_or(""));
      if (!info.cgroup.empty()) {
        const auto& limit = limits.of(paths);
        info.cgroup_memory_max = limit.max;
        info.cgroup_memory_current = limit.current;
        info.cgroup_limited_by = limit.limited_by;
      }
    }
    result.matches.push_back(std::move(info));
  }
  result.taken_at = std::chrono::steady_clock::now();
  return result;
}

}  // namespace vitals
