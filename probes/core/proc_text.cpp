#include "probes/core/proc_text.hpp"

#include "probes/core/command_line_redaction.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace vitals {

int read_proc_text(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  out.clear();
  char buf[4096];
  int err = 0;
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    break;
  }
  ::close(fd);
  return err;
}

int read_proc_record(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  out.clear();
  char buf[4096];
  ssize_t n;
  do n = ::read(fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  const int err = n < 0 ? errno : 0;
  ::close(fd);
  if (err != 0) return err;
  if (static_cast<std::size_t>(n) < sizeof buf) {
    out.assign(buf, static_cast<std::size_t>(n));
    return 0;
  }
  return read_proc_text(path, out);  // a record longer than the buffer: read it whole, from the start
}

std::vector<std::string_view> split_whitespace(std::string_view s) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n'; };
  while (i < s.size()) {
    while (i < s.size() && blank(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !blank(s[i])) ++i;
    if (i > start) fields.push_back(s.substr(start, i - start));
  }
  return fields;
}

bool is_pid(const char* name, int& pid) {
  const std::string_view s(name);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         parse_int(s, pid) && pid > 0;
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

long clock_ticks_per_second() {
  static const long ticks = [] {
    const long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? t : 100;
  }();
  return ticks;
}

std::uint64_t boot_clock_ticks() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  const auto hz = static_cast<std::uint64_t>(clock_ticks_per_second());
  return static_cast<std::uint64_t>(now.tv_sec) * hz + static_cast<std::uint64_t>(now.tv_nsec) * hz / 1'000'000'000;
}

bool still_settling(std::uint64_t start_ticks, std::chrono::steady_clock::duration settle, std::uint64_t now_ticks) {
  const auto settle_ticks = std::chrono::duration_cast<std::chrono::milliseconds>(settle).count() *
                            clock_ticks_per_second() / 1000;
  // A start time ahead of now (another clock, a fake tree) counts as young: reading again is the safe side.
  return start_ticks + static_cast<std::uint64_t>(std::max<std::int64_t>(settle_ticks, 0)) > now_ticks;
}

void truncate_utf8(std::string& s, std::size_t max) {
  if (s.size() <= max) return;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
}

const std::string& user_names::name(uid_t uid) {
  auto [it, inserted] = names_.try_emplace(uid);
  if (!inserted) return it->second;
  std::vector<char> buf(16 * 1024);
  passwd pw{};
  passwd* found = nullptr;
  while (true) {
    const int rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < 1024 * 1024) {
      buf.resize(buf.size() * 2);
      continue;
    }
    it->second = rc == 0 && found != nullptr ? std::string(found->pw_name) : std::to_string(uid);
    return it->second;
  }
}

std::optional<process_identity> read_process_identity(const std::string& proc_dir, int pid, user_names& users) {
  process_identity o;
  o.pid = pid;
  std::string text;
  if (read_proc_record(proc_dir + "/comm", text) != 0 || text.empty()) return std::nullopt;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  o.process = text;

  if (read_proc_record(proc_dir + "/status", text) != 0) return std::nullopt;
  const auto uid_at = text.find("\nUid:");
  if (uid_at == std::string::npos) return std::nullopt;
  {
    const auto line_end = text.find('\n', uid_at + 1);
    const auto fields = split_whitespace(std::string_view(text).substr(uid_at + 5, line_end - uid_at - 5));
    // Uid: real effective saved fs — `ps -o user` shows the effective one.
    if (fields.size() < 2 || !parse_int(fields[1], o.uid)) return std::nullopt;
  }
  o.user = users.name(o.uid);

  // cmdline is empty for kernel threads and zombies; not an error.
  const int err = read_proc_text(proc_dir + "/cmdline", text);
  if (err == 0) {
    const auto argv0_end = text.find('\0');
    const std::string argv0 = text.substr(0, argv0_end);
    const auto slash = argv0.rfind('/');
    o.exe_name = slash == std::string::npos ? argv0 : argv0.substr(slash + 1);
    std::replace(text.begin(), text.end(), '\0', ' ');
    while (!text.empty() && text.back() == ' ') text.pop_back();
    // Redacted before the cut, which could leave a password without the
    // "--password=" that marks it; a cut says so.
    o.cmdline = redact_command_line(text);
    if (o.cmdline.size() > process_identity::max_cmdline) {
      truncate_utf8(o.cmdline, process_identity::max_cmdline);
      o.cmdline += "…";
    }
  } else if (err == ENOENT || err == ESRCH) {
    return std::nullopt;
  }
  return o;
}

}  // namespace vitals
