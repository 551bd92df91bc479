#include "probes/process/process_scan.hpp"

#include "probes/core/command_line_redaction.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

namespace vitals {

namespace {

using clock = std::chrono::steady_clock;

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
  const int err = read_proc_record(path, out);
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

// Every pid in `proc_root` with the inode of its directory.
std::vector<std::pair<int, ino_t>> list_pids(const std::string& proc_root) {
  std::vector<std::pair<int, ino_t>> pids;
  if (DIR* d = ::opendir(proc_root.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      int pid = 0;
      if (is_pid(e->d_name, pid)) pids.emplace_back(pid, e->d_ino);
    }
    ::closedir(d);
  }
  return pids;
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

// The effective uid (the USER column of ps) from /proc/<pid>/status text.
std::optional<uid_t> effective_uid(const std::string& status) {
  const auto uid_at = status.find("\nUid:");
  if (uid_at == std::string::npos) return std::nullopt;
  const auto line_end = status.find('\n', uid_at + 1);
  const auto fields = split_whitespace(std::string_view(status).substr(uid_at + 5, line_end - uid_at - 5));
  uid_t uid = 0;
  if (fields.size() < 2 || !parse_int(fields[1], uid)) return std::nullopt;
  return uid;
}

// Redacted before the cut, which could leave a password without the
// "--password=" that marks it. A cut says so ("…"), which also lets the
// config's secrets hide a part the cut left (redactor).
std::string shown_cmdline(const std::string& joined) {
  std::string shown = redact_command_line(joined);
  if (shown.size() > process_info::max_cmdline) {
    truncate_utf8(shown, process_info::max_cmdline);
    shown += "…";
  }
  return shown;
}

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

// One scan: its result and what its reads share.
class process_scanner::run {
public:
  explicit run(cgroup_memory_reader& cgroup_limits) : limits(cgroup_limits) { limits.next_run(); }

  // Counts a pid whose file could not be read. True (remember it as
  // unreadable) when access was denied; false (forget it) when it vanished.
  bool skipped(read_outcome o, known_process& k) {
    if (o == read_outcome::denied) {
      ++result.unreadable;
      k.seen = verdict::unreadable;
      return true;
    }
    ++result.vanished;
    return false;
  }

  process_scan_result result;
  user_names users;
  cgroup_memory_reader& limits;  // the scanner's, kept between scans
  bool from_pidfile = false;
  const clock::time_point now = clock::now();
  const std::uint64_t now_ticks = boot_clock_ticks();
};

process_scanner::process_scanner(process_matcher matcher, std::string proc_root, std::string cgroup_root)
    : process_scanner(std::move(matcher), std::move(proc_root), std::move(cgroup_root), timing{}) {}

process_scanner::process_scanner(process_matcher matcher, std::string proc_root, std::string cgroup_root, timing t)
    : matcher_(std::move(matcher)),
      proc_root_(std::move(proc_root)),
      cgroup_root_(std::move(cgroup_root)),
      timing_(t),
      limits_(cgroup_root_) {
  limits_.set_limits_max_age(timing_.cgroup_limits_max_age);
}

bool process_scanner::remembers(int pid) const {
  std::lock_guard lock(mutex_);
  return known_.contains(pid);
}

process_scan_result process_scanner::scan() {
  std::lock_guard lock(mutex_);
  run r(limits_);
  if (matcher_.pidfile) {
    // Only the pidfile's pid can match: no need to list /proc.
    r.from_pidfile = true;
    if (auto pid = read_pidfile(*matcher_.pidfile, r.result.pidfile_problem)) examine(*pid, 0, nullptr, r);
  } else {
    std::unordered_map<int, known_process> listed;  // pids gone from /proc are forgotten
    listed.reserve(known_.size());
    for (const auto& [pid, inode] : list_pids(proc_root_)) {
      auto node = known_.extract(pid);
      if (!node.empty() && can_skip(node.mapped(), inode, r)) {
        if (node.mapped().seen == verdict::unreadable) ++r.result.unreadable;
        listed.insert(std::move(node));
        continue;
      }
      if (auto k = examine(pid, inode, node.empty() ? nullptr : &node.mapped(), r))
        listed.insert_or_assign(pid, std::move(*k));
    }
    known_ = std::move(listed);
  }
  r.result.taken_at = clock::now();
  r.result.now_ticks = r.now_ticks;
  return std::move(r.result);
}

bool process_scanner::can_skip(const known_process& k, ino_t inode, const run& r) const {
  // Matches and zombies are measured (or gone) on every scan.
  if (k.seen != verdict::no_match && k.seen != verdict::unreadable) return false;
  // A new /proc entry under a known pid: read it (a reused pid shows a new start time).
  return k.inode == inode && r.now < k.recheck_at && !still_settling(k.start_ticks, timing_.settle_time, r.now_ticks);
}

std::optional<process_scanner::known_process> process_scanner::examine(int pid, ino_t inode,
                                                                       known_process* before, run& r) const {
  ++r.result.pids_read;
  const std::string dir = proc_root_ + "/" + std::to_string(pid);
  known_process k;
  k.inode = inode;
  // Spread over a second period, so the pids first seen together are not
  // all read again in the same scan.
  k.recheck_at = r.now + timing_.recheck_after + timing_.recheck_after * (pid % 16) / 16;

  std::string text;
  if (const auto o = read_proc_file(dir + "/stat", text); o != read_outcome::ok) {
    if (r.from_pidfile && o == read_outcome::vanished) {
      r.result.pidfile_problem =
          "pidfile " + *matcher_.pidfile + " names pid " + std::to_string(pid) + ", which is not running";
      return std::nullopt;
    }
    return r.skipped(o, k) ? std::optional(std::move(k)) : std::nullopt;
  }
  const auto stat = parse_proc_stat(text);
  if (!stat) {
    ++r.result.vanished;  // a torn read of a dying process
    return std::nullopt;
  }
  k.start_ticks = stat->start_ticks;
  if (matcher_.name && stat->comm != *matcher_.name) return k;

  // What the last full read of this very process learnt still holds until
  // it is due again, unless the process is young enough to be changing.
  const bool still_holds = before != nullptr && before->seen == verdict::match &&
                           before->start_ticks == stat->start_ticks && r.now < before->recheck_at &&
                           !still_settling(stat->start_ticks, timing_.settle_time, r.now_ticks);
  known_process* kept = still_holds ? before : nullptr;
  if (kept != nullptr) k.recheck_at = kept->recheck_at;
  if (!read_identity(dir, *stat, kept, k, r)) return std::nullopt;
  if (k.seen == verdict::match && !measure(pid, dir, *stat, kept == nullptr, k, r)) return std::nullopt;
  return k;
}

bool process_scanner::read_identity(const std::string& dir, const proc_stat& stat, known_process* kept,
                                    known_process& k, run& r) const {
  // Cheapest test first: most processes fail the name or the command line,
  // and never cost a read of status.
  const bool zombie = stat.state == 'Z';  // no memory, fds or argv left; its parent has not reaped it
  if (zombie && matcher_.cmdline_regex) return true;  // no argv: we cannot tell whether it matched
  const bool read_cmdline = !zombie && (matcher_.cmdline_regex || kept == nullptr);
  std::string cmdline;
  if (read_cmdline) {
    // cmdline reads as empty for kernel threads too, so an empty read is
    // not "vanished" here: stat already told us the process exists.
    if (const int err = read_proc_text(dir + "/cmdline", cmdline); err != 0) return r.skipped(classify(err), k);
    while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (matcher_.cmdline_regex && !matcher_.cmdline_regex->matches(cmdline)) return true;
  }

  std::optional<uid_t> uid;
  if (kept != nullptr && !matcher_.uid) {
    uid = kept->match->info.uid;
  } else {
    std::string status;
    if (const auto o = read_proc_file(dir + "/status", status); o != read_outcome::ok) return r.skipped(o, k);
    if (!(uid = effective_uid(status))) {
      ++r.result.vanished;
      return false;
    }
  }
  if (matcher_.uid && *uid != *matcher_.uid) return true;
  if (zombie) {
    ++r.result.zombies;
    k.seen = verdict::zombie;
    return true;
  }

  k.seen = verdict::match;
  k.match = kept != nullptr ? std::move(kept->match) : std::make_unique<match_details>();
  process_info& info = k.match->info;
  info.comm = stat.comm;
  if (kept == nullptr || info.uid != *uid) {
    info.uid = *uid;
    info.user = r.users.name(*uid);
  }
  if (read_cmdline) info.cmdline = shown_cmdline(cmdline);
  return true;
}

bool process_scanner::measure(int pid, const std::string& dir, const proc_stat& stat, bool full, known_process& k,
                              run& r) const {
  process_info& info = k.match->info;
  cgroup_paths& cgroup = k.match->cgroup;
  info.key = {pid, stat.start_ticks};
  info.rss_bytes = stat.rss_pages > 0 ? static_cast<std::uint64_t>(stat.rss_pages) * page_bytes : 0;
  info.cpu_seconds =
      static_cast<double>(stat.utime_ticks + stat.stime_ticks) / static_cast<double>(clock_ticks_per_second());

  std::size_t fds = 0;
  if (const int err = count_fds(dir + "/fd", fds); err == 0) {
    info.open_fds = fds;
  } else if (classify(err) == read_outcome::vanished) {
    ++r.result.vanished;
    return false;
  } else {
    info.open_fds.reset();
    ++r.result.fds_unreadable;  // still counted and measured; only its fds are unknown
  }

  std::string text;
  if (full) {
    info.max_fds.reset();
    if (read_proc_file(dir + "/limits", text) == read_outcome::ok) info.max_fds = parse_max_open_files(text);
    cgroup = {};
    if (read_proc_file(dir + "/cgroup", text) == read_outcome::ok) cgroup = parse_cgroup_paths(text);
    info.cgroup = cgroup.v2.value_or(cgroup.v1_memory.value_or(""));
  }
  // Usage changes while the process runs: read on every scan (the limit,
  // every 30 s; see cgroup_memory_reader).
  info.cgroup_memory_max.reset();
  info.cgroup_memory_current.reset();
  info.cgroup_limited_by.clear();
  if (!info.cgroup.empty()) {
    const auto& limit = r.limits.of(cgroup);
    info.cgroup_memory_max = limit.max;
    info.cgroup_memory_current = limit.current;
    info.cgroup_limited_by = limit.limited_by;
  }
  r.result.matches.push_back(info);
  return true;
}

process_scan_result scan_processes(const process_matcher& matcher, const std::string& proc_root,
                                   const std::string& cgroup_root) {
  return process_scanner(matcher, proc_root, cgroup_root).scan();
}

}  // namespace vitals
