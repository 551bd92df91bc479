#include "daemon/cli/host_survey.hpp"

#include "probes/core/proc_text.hpp"
#include "probes/port/socket_owner_index.hpp"
#include "probes/sqlite/sqlite_format.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <tuple>
#include <set>
#include <string_view>

namespace vitals {

namespace {

namespace fs = std::filesystem;

// Loopback or every address: what a developer's services listen on, and
// what a probe on this host can reach as 127.0.0.1 or [::1].
bool reachable_here(const std::string& address) {
  return address == "0.0.0.0" || address == "::" || address == "::1" || address.starts_with("127.") ||
         address.starts_with("::ffff:127.");
}

std::string read_link(const std::string& path) {
  std::array<char, 4096> buffer{};
  const auto n = ::readlink(path.c_str(), buffer.data(), buffer.size() - 1);
  return n > 0 ? std::string(buffer.data(), static_cast<std::size_t>(n)) : std::string();
}

std::optional<survey_process> read_process(const std::string& proc_root, int pid, user_names& users,
                                           std::uint64_t now_ticks, int& unreadable) {
  const std::string dir = proc_root + "/" + std::to_string(pid);
  std::string text;
  if (const int err = read_proc_text(dir + "/stat", text); err != 0) {
    if (err == EACCES || err == EPERM) ++unreadable;
    return std::nullopt;
  }
  const auto stat = parse_proc_stat(text);
  if (!stat || stat->state == 'Z') return std::nullopt;
  auto who = read_process_identity(dir, pid, users);
  if (!who) return std::nullopt;
  survey_process p;
  p.who = std::move(*who);
  static const long page = ::sysconf(_SC_PAGESIZE);
  p.rss_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(stat->rss_pages, 0)) * static_cast<std::uint64_t>(page);
  if (now_ticks >= stat->start_ticks)
    p.age_seconds = static_cast<double>(now_ticks - stat->start_ticks) / static_cast<double>(clock_ticks_per_second());
  p.cwd = read_link(dir + "/cwd");
  return p;
}

bool read_at(int fd, void* buffer, std::size_t size, std::uint64_t offset) {
  return ::pread(fd, buffer, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
}

// A Go program: its ELF file has a ".go.buildinfo" section. Reads the
// section headers and their names only (64-bit little-endian ELF, the
// layout the ELF specification gives), a few KiB at most.
bool is_go_binary(const std::string& exe) {
  const int fd = ::open(exe.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool found = false;
  unsigned char h[64];
  if (read_at(fd, h, sizeof h, 0) && std::memcmp(h, "\x7f" "ELF", 4) == 0 && h[4] == 2 && h[5] == 1) {
    auto u16 = [](const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | p[1] << 8); };
    auto u64 = [](const unsigned char* p) {
      std::uint64_t v = 0;
      for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
      return v;
    };
    const std::uint64_t shoff = u64(h + 0x28);
    const std::uint16_t shentsize = u16(h + 0x3a), shnum = u16(h + 0x3c), shstrndx = u16(h + 0x3e);
    unsigned char names_header[64];
    if (shentsize == 64 && shnum > 0 && shnum < 4096 && shstrndx < shnum &&
        read_at(fd, names_header, sizeof names_header, shoff + std::uint64_t{shstrndx} * 64)) {
      const std::uint64_t names_at = u64(names_header + 0x18), names_size = u64(names_header + 0x20);
      std::string names(std::min<std::uint64_t>(names_size, 64 * 1024), '\0');
      std::vector<unsigned char> headers(std::size_t{shnum} * 64);
      if (read_at(fd, names.data(), names.size(), names_at) && read_at(fd, headers.data(), headers.size(), shoff)) {
        for (std::size_t i = 0; i < shnum && !found; ++i) {
          const std::uint32_t name = headers[i * 64] | headers[i * 64 + 1] << 8 | headers[i * 64 + 2] << 16 |
                                     static_cast<std::uint32_t>(headers[i * 64 + 3]) << 24;
          found = name < names.size() && std::string_view(names.c_str() + name) == ".go.buildinfo";
        }
      }
    }
  }
  ::close(fd);
  return found;
}

bool is_server_name(const process_identity& who) {
  return who.is_named("redis-server") || who.is_named("postgres") || who.is_named("postmaster");
}

void find_sqlite_files(const survey_options& o, host_survey& out) {
  std::size_t entries = 0;
  std::set<std::string> seen;
  for (const auto& root : o.scan_dirs) {
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      out.unseen.push_back("--scan " + root + ": " + ec.message());
      continue;
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (++entries > o.max_entries) {
        out.unseen.push_back("files under --scan beyond the first " + std::to_string(o.max_entries));
        return;
      }
      if (static_cast<std::size_t>(it.depth()) >= o.max_depth) it.disable_recursion_pending();
      std::error_code type_ec;
      if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) continue;
      const std::string path = it->path().lexically_normal().string();
      // O_NONBLOCK: a FIFO that slipped through would otherwise block the open.
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
      if (fd < 0) continue;
      std::array<unsigned char, sqlite_header_size> header{};
      const auto n = ::read(fd, header.data(), header.size());
      struct stat st {};
      const bool sized = ::fstat(fd, &st) == 0;
      ::close(fd);
      if (n != static_cast<ssize_t>(header.size())) continue;
      const auto parsed = parse_sqlite_header(header);
      if (!parsed.header || parsed.problem || !seen.insert(path).second) continue;
      out.sqlite_files.push_back({path, parsed.header->wal_mode, sized ? static_cast<std::uint64_t>(st.st_size) : 0});
    }
    if (ec) out.unseen.push_back("part of --scan " + root + ": " + ec.message());
  }
  std::sort(out.sqlite_files.begin(), out.sqlite_files.end(),
            [](const sqlite_file& a, const sqlite_file& b) { return a.path < b.path; });
}

}  // namespace

bool is_runtime_name(const std::string& name) {
  static const std::set<std::string, std::less<>> names = {
      "node", "nodejs", "deno", "bun", "python", "python2", "python3", "java", "ruby", "php", "php-fpm",
      "dotnet", "beam.smp", "gunicorn", "uvicorn", "puma", "unicorn", "perl"};
  if (names.contains(name)) return true;
  // python3.11, python3.12: versioned interpreters.
  return name.starts_with("python3.") && name.size() > 8;
}

std::string program_of(const std::string& cmdline) {
  std::vector<std::string_view> args;
  for (const auto a : split_whitespace(cmdline)) args.push_back(a);
  for (std::size_t i = 1; i < args.size(); ++i) {
    const auto a = args[i];
    if (a == "-c" || a == "-e" || a == "--eval") return {};  // code on the command line: no file to name
    if ((a == "-m" || a == "-jar") && i + 1 < args.size()) {
      const auto next = args[i + 1];
      return std::string(next.substr(next.rfind('/') == std::string_view::npos ? 0 : next.rfind('/') + 1));
    }
    if (a.starts_with("-")) continue;
    const auto slash = a.rfind('/');
    return std::string(slash == std::string_view::npos ? a : a.substr(slash + 1));
  }
  return {};
}

host_survey survey_host(const survey_options& o) {
  host_survey out;
  owner_snapshot sockets = socket_owner_index::scan(o.proc_root);
  std::size_t hidden = 0;
  std::set<int> owners;
  for (auto& l : sockets.listeners) {
    if (!reachable_here(l.address)) continue;
    if (!l.owner) ++hidden;
    else owners.insert(l.owner->pid);
    out.listeners.push_back(std::move(l));
  }
  std::sort(out.listeners.begin(), out.listeners.end(),
            [](const port_listener& a, const port_listener& b) { return std::tie(a.port, a.address) < std::tie(b.port, b.address); });
  if (hidden > 0) {
    const std::string what = "the owners of " + std::to_string(hidden) + " listening socket" + (hidden == 1 ? "" : "s");
    if (sockets.permission_denied)
      out.unseen.push_back(what + ": they belong to other users' processes, whose open files only root (or "
                                  "CAP_DAC_READ_SEARCH with CAP_SYS_PTRACE) may read; see \"Naming other users' "
                                  "processes\" in docs/operations.md");
    else
      out.unseen.push_back(what + ": no process visible here holds them (a kernel socket, or a process in another "
                                  "PID namespace)");
  }

  user_names users;
  const std::uint64_t now_ticks = boot_clock_ticks();
  int unreadable = 0;
  if (DIR* d = ::opendir(o.proc_root.c_str())) {
    const int self = ::getpid();
    while (const dirent* e = ::readdir(d)) {
      int pid = 0;
      if (!is_pid(e->d_name, pid) || pid == self) continue;
      auto p = read_process(o.proc_root, pid, users, now_ticks, unreadable);
      if (!p) continue;
      if (owners.contains(pid) && is_server_name(p->who))
        out.servers.push_back(std::move(*p));
      else if (is_runtime_name(p->who.process) || is_runtime_name(p->who.exe_name) ||
               (owners.contains(pid) && is_go_binary(o.proc_root + "/" + std::to_string(pid) + "/exe")))
        out.programs.push_back(std::move(*p));
    }
    ::closedir(d);
  } else {
    out.unseen.push_back("processes: " + o.proc_root + " cannot be read");
  }
  if (unreadable > 0)
    out.unseen.push_back(std::to_string(unreadable) + " process" + (unreadable == 1 ? "" : "es") + " in " +
                         o.proc_root + " that may not be read (hidepid, or another user's)");
  auto by_pid = [](const survey_process& a, const survey_process& b) { return a.who.pid < b.who.pid; };
  std::sort(out.programs.begin(), out.programs.end(), by_pid);
  std::sort(out.servers.begin(), out.servers.end(), by_pid);

  find_sqlite_files(o, out);
  return out;
}

}  // namespace vitals
