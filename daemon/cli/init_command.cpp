#include "daemon/cli/init_command.hpp"

#include "daemon/cli/service_pokes.hpp"
#include "probes/core/proc_text.hpp"
#include "probes/core/units.hpp"
#include "probes/core/valid_text.hpp"
#include "probes/disk/disk_usage.hpp"
#include "probes/port/port_list.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace vitals {

namespace {

namespace json = boost::json;

const char* const health_paths[] = {"/health", "/healthz", "/api/health", "/health/ready", "/ready"};
const char* const websocket_paths[] = {"/", "/ws", "/socket"};

// A YAML double-quoted scalar: any text, valid UTF-8, on one line.
std::string yaml_quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : valid_utf8(text)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      out += hex[static_cast<unsigned char>(c) & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Text for a comment: one line whatever it holds.
std::string comment_text(std::string_view text) { return printable(text); }

// RE2 syntax: every character that means something is escaped.
std::string regex_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (std::strchr("\\.^$|?*+()[]{}", c) != nullptr) out += '\\';
    out += c;
  }
  return out;
}

// The name `expect_process` compares: comm, unless the kernel cut it at 15
// bytes and argv[0]'s basename is the full name.
std::string process_name(const process_identity& who) {
  return who.process.size() >= 15 && !who.exe_name.empty() ? who.exe_name : who.process;
}

std::string slug(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (keep) out += c;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "x" : out.substr(0, 48);
}

// Rounds up to a power of two MiB, at least 256 MiB.
std::string suggested_limit(std::uint64_t bytes) {
  std::uint64_t mib = 256;
  while (mib * 1024 * 1024 < bytes) mib *= 2;
  return mib >= 1024 ? std::to_string(mib / 1024) + "GiB" : std::to_string(mib) + "MiB";
}

// One listening port (all its addresses) and who holds it.
struct listened_port {
  std::uint16_t port = 0;
  std::string host;  // what a probe connects to: 127.0.0.1 or ::1
  std::optional<socket_owner> owner;
};

std::vector<listened_port> ports_of(const host_survey& s) {
  std::map<std::uint16_t, listened_port> by_port;
  for (const auto& l : s.listeners) {
    auto& p = by_port[l.port];
    p.port = l.port;
    const bool v6_only = l.address == "::1";
    if (p.host.empty() || (p.host == "::1" && !v6_only)) p.host = v6_only ? "::1" : "127.0.0.1";
    if (!p.owner && l.owner) p.owner = l.owner;
  }
  std::vector<listened_port> out;
  for (auto& [port, p] : by_port) out.push_back(std::move(p));
  return out;
}

class config_writer {
public:
  config_writer(const host_survey& s, bool http) : s_(s), http_(http) {}

  std::string text() {
    const auto ports = ports_of(s_);
    write_ports(ports);
    write_servers(ports);
    write_programs();
    write_sqlite();
    write_disks();
    if (http_) write_web(ports);
    std::ostringstream out;
    out << "# vitalsd config written by `vitalsd init` from what runs on this host.\n"
        << "# Every probe says why it is here. Check the file with `vitalsd validate -c FILE`,\n"
        << "# try it once with `vitalsd check -c FILE`, then keep, change or delete what it says.\n";
    for (const auto& note : s_.unseen) out << "# Not seen: " << comment_text(note) << "\n";
    out << "\nprobes:" << (body_.empty() ? " []\n" : "\n") << body_;
    return out.str();
  }

private:
  std::string unique(std::string name) {
    std::string candidate = name;
    for (int i = 2; !names_.insert(candidate).second; ++i) candidate = name + "-" + std::to_string(i);
    return candidate;
  }

  void probe(const std::vector<std::string>& why, const std::string& name, const std::string& type,
             const std::vector<std::pair<std::string, std::string>>& keys, const std::string& tail = {}) {
    body_ += "\n";
    for (const auto& line : why) body_ += "  # " + comment_text(line) + "\n";
    body_ += "  - name: " + yaml_quoted(unique(name)) + "\n    type: " + type + "\n";
    for (const auto& [key, value] : keys) body_ += "    " + key + ": " + value + "\n";
    body_ += tail;
  }

  static std::string owner_text(const socket_owner& o) {
    return process_name(o) + " (pid " + std::to_string(o.pid) + ", user " + o.user + ")";
  }

  // One probe per owner: a program that holds several ports gets them as a
  // list ("3000-3002"); a port whose owner is not visible gets its own.
  void write_ports(const std::vector<listened_port>& ports) {
    std::map<int, std::vector<const listened_port*>> by_owner;
    for (const auto& p : ports) {
      if (p.owner) {
        by_owner[p.owner->pid].push_back(&p);
        continue;
      }
      probe({"port " + std::to_string(p.port) + " is open; its owner is not visible to this user"},
            "port-" + std::to_string(p.port), "port", {{"port", std::to_string(p.port)}});
    }
    for (const auto& [pid, owned] : by_owner) {
      const socket_owner& o = *owned.front()->owner;
      std::vector<std::uint16_t> numbers;
      for (const auto* p : owned) numbers.push_back(p->port);
      const auto list = format_port_list(numbers);
      if (numbers.size() == 1) {
        probe({"port " + list + " is owned by " + owner_text(o)}, "port-" + list, "port",
              {{"port", list}, {"expect_process", yaml_quoted(process_name(o))}});
      } else {
        probe({"ports " + format_port_list_readable(numbers) + " are owned by " + owner_text(o)},
              "ports-" + slug(process_name(o)), "port", {{"ports", yaml_quoted(list)}, {"expect_process", yaml_quoted(process_name(o))}});
      }
    }
  }

  void write_servers(const std::vector<listened_port>& ports) {
    for (const auto& p : ports) {
      if (!p.owner) continue;
      const poke_target target{p.host, p.port};
      if (p.owner->is_named("redis-server")) {
        const auto auth = redis_requires_auth(target);
        std::string tail;
        if (auth.value_or(false))
          tail = "    # It answered NOAUTH: it needs a password. Give it from the environment or a file:\n"
                 "    # password: ${env:REDIS_PASSWORD}\n";
        probe({"Redis on port " + std::to_string(p.port) + ": " + owner_text(*p.owner)},
              "redis-" + std::to_string(p.port), "redis", {{"address", yaml_quoted(host_port(target))}}, tail);
      } else if (p.owner->is_named("postgres") || p.owner->is_named("postmaster")) {
        const std::string host = p.host == "::1" ? "::1" : "127.0.0.1";
        probe({"PostgreSQL on port " + std::to_string(p.port) + ": " + owner_text(*p.owner),
               "To see every session's query and state, connect as a role with pg_monitor:",
               "CREATE ROLE vitals LOGIN; GRANT pg_monitor TO vitals;  then user=vitals below"},
              "postgres-" + std::to_string(p.port), "postgres",
              {{"conninfo", yaml_quoted("host=" + host + " port=" + std::to_string(p.port) + " dbname=postgres user=postgres")}});
      }
    }
  }

  // Runtimes grouped by name and the program they run: "node server.js".
  void write_programs() {
    std::map<std::pair<std::string, std::string>, std::vector<const survey_process*>> groups;
    // Keyed by comm: match.name compares it, and it is at most 15 bytes.
    for (const auto& p : s_.programs) groups[{p.who.process, program_of(p.who.cmdline)}].push_back(&p);
    for (auto& [key, members] : groups) {
      const auto& [name, program] = key;
      const std::string shown = process_name(members.front()->who);
      std::sort(members.begin(), members.end(),
                [](const survey_process* a, const survey_process* b) { return a->rss_bytes > b->rss_bytes; });
      std::uint64_t total = 0;
      for (const auto* m : members) total += m->rss_bytes;
      std::string top;
      for (std::size_t i = 0; i < members.size() && i < 3; ++i)
        top += (i ? ", " : "") + format_bytes(static_cast<double>(members[i]->rss_bytes)) + " (pid " +
               std::to_string(members[i]->who.pid) + ")";
      const std::string count = std::to_string(members.size());
      std::vector<std::string> why = {
          count + " " + shown + (members.size() == 1 ? " process" : " processes") +
              (program.empty() ? "" : " running " + program) + ", user " + members.front()->who.user + "; RSS " + top,
          "rss_limit: about twice their RSS today (" + format_bytes(static_cast<double>(total)) +
              "); the memory-growth ETA counts against it"};
      std::string match = "{name: " + yaml_quoted(name);
      if (!program.empty()) match += ", cmdline: " + yaml_quoted(regex_escape(program));
      match += "}";
      probe(why, slug(program.empty() ? shown : shown + "-" + program), "process",
            {{"match", match}, {"min_count", count}, {"rss_limit", suggested_limit(total * 2)}});
    }
  }

  void write_sqlite() {
    for (const auto& f : s_.sqlite_files) {
      const auto stem = std::filesystem::path(f.path).stem().string();
      probe({"SQLite database (" + std::string(f.wal ? "WAL mode" : "rollback journal") + ", " +
             format_bytes(static_cast<double>(f.bytes)) + "), found under --scan"},
            "sqlite-" + slug(stem), "sqlite", {{"path", yaml_quoted(f.path)}});
    }
  }

  // One disk probe per filesystem holding the SQLite files, the --scan
  // directories or a database server's working directory (its data).
  void write_disks() {
    std::vector<std::pair<std::string, std::string>> dirs;  // directory, why
    for (const auto& f : s_.sqlite_files)
      dirs.emplace_back(std::filesystem::path(f.path).parent_path().string(), "SQLite files");
    for (const auto& p : s_.servers)
      if (!p.cwd.empty()) dirs.emplace_back(p.cwd, "the data of " + process_name(p.who));
    std::string mountinfo;
    if (read_proc_text("/proc/self/mountinfo", mountinfo) != 0) return;
    std::map<std::string, std::pair<std::string, std::vector<std::string>>> by_mount;  // mount -> dir, reasons
    for (const auto& [dir, why] : dirs) {
      std::error_code ec;
      const auto real = std::filesystem::canonical(dir, ec);
      if (ec) continue;
      const auto mount = find_mount(mountinfo, real.string());
      if (!mount) continue;
      auto& entry = by_mount[mount->mount_point];
      if (entry.first.empty()) entry.first = real.string();
      if (std::find(entry.second.begin(), entry.second.end(), why) == entry.second.end()) entry.second.push_back(why);
    }
    for (const auto& [mount, entry] : by_mount) {
      std::string reasons;
      for (const auto& r : entry.second) reasons += (reasons.empty() ? "" : ", ") + r;
      probe({"the filesystem mounted on " + mount + " holds " + reasons},
            "disk-" + (mount == "/" ? std::string("root") : slug(mount)), "disk", {{"path", yaml_quoted(entry.first)}});
    }
  }

  static bool healthy_value(const json::value& v) {
    if (v.is_bool()) return v.as_bool();
    if (!v.is_string()) return false;
    std::string s(v.as_string());
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    static const std::set<std::string> words = {"ok", "healthy", "up", "pass", "passing", "connected", "ready",
                                                "green", "alive", "available", "running", "online"};
    return words.contains(s);
  }

  // expect_json from a healthy answer: its top-level fields that say
  // "healthy" in words, which a failing service would change.
  static std::string expect_json_of(const std::string& body) {
    boost::system::error_code ec;
    json::parse_options limits;
    limits.max_depth = 32;
    const auto doc = json::parse(body, ec, {}, limits);
    if (ec || !doc.is_object()) return {};
    std::string out;
    for (const auto& [key, value] : doc.as_object()) {
      if (!healthy_value(value)) continue;
      const std::string shown = value.is_bool() ? "true" : yaml_quoted(std::string(value.as_string()));
      out += (out.empty() ? "{" : ", ") + yaml_quoted(std::string(key)) + ": " + shown;
    }
    return out.empty() ? out : out + "}";
  }

  void write_web(const std::vector<listened_port>& ports) {
    for (const auto& p : ports) {
      if (p.owner && (p.owner->is_named("redis-server") || p.owner->is_named("postgres"))) continue;
      const poke_target target{p.host, p.port};
      const std::string base = "http://" + host_port(target);
      for (const char* path : health_paths) {
        const auto answer = http_get(target, path);
        if (!answer) break;  // not HTTP at all: no other path will be
        if (answer->status < 200 || answer->status > 299) continue;
        std::vector<std::pair<std::string, std::string>> keys = {{"url", yaml_quoted(base + path)}};
        const auto expect = expect_json_of(answer->body);
        if (!expect.empty()) keys.emplace_back("expect_json", expect);
        probe({"GET " + std::string(path) + " on port " + std::to_string(p.port) + " answered " +
               std::to_string(answer->status) + (expect.empty() ? "" : "; expect_json keeps the fields that said healthy")},
              "http-" + std::to_string(p.port) + "-" + slug(path), "http", keys);
        break;
      }
      for (const char* path : websocket_paths) {
        if (!websocket_upgrades(target, path)) continue;
        probe({"port " + std::to_string(p.port) + " upgrades " + path + " to WebSocket; control mode sends a ping frame"},
              "ws-" + std::to_string(p.port), "websocket",
              {{"url", yaml_quoted("ws://" + host_port(target) + path)}, {"mode", "control"}});
        break;
      }
    }
  }

  const host_survey& s_;
  bool http_;
  std::string body_;
  std::set<std::string> names_;
};

bool write_file(const std::string& path, const std::string& text, bool force) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) {
    if (errno == EEXIST)
      std::cerr << "vitalsd init: " << printable(path) << " exists; add --force to overwrite it\n";
    else
      std::cerr << "vitalsd init: cannot write " << printable(path) << ": " << std::strerror(errno) << "\n";
    return false;
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::cerr << "vitalsd init: cannot write " << printable(path) << ": " << std::strerror(errno) << "\n";
      ::close(fd);
      return false;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return ::close(fd) == 0;
}

}  // namespace

std::string init_config_text(const host_survey& survey, bool http) { return config_writer(survey, http).text(); }

int run_init(const init_options& o) {
  survey_options so;
  so.scan_dirs = o.scan_dirs;
  const auto survey = survey_host(so);
  const auto text = init_config_text(survey, o.http);
  for (const auto& note : survey.unseen) std::cerr << "vitalsd init: not seen: " << printable(note) << "\n";
  if (!o.output) {
    std::cout << text;
    return std::cout.good() ? 0 : 1;
  }
  if (!write_file(*o.output, text, o.force)) return 1;
  std::cerr << "vitalsd init: wrote " << printable(*o.output) << "; check it with: vitalsd validate -c "
            << printable(*o.output) << "\n";
  return 0;
}

}  // namespace vitals
