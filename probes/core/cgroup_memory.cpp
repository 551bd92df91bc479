#include "probes/core/cgroup_memory.hpp"

#include "probes/core/proc_text.hpp"

namespace vitals {

namespace {

// A limit file's number; nullopt for "max", unreadable files, and v1's way
// of saying "no limit" (LONG_MAX rounded down to a page).
std::optional<std::uint64_t> read_limit(const std::string& path) {
  std::string text;
  if (read_proc_record(path, text) != 0) return std::nullopt;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::uint64_t value = 0;
  if (!parse_int(std::string_view(text), value)) return std::nullopt;
  if (value >= (std::uint64_t{1} << 60)) return std::nullopt;
  return value;
}

}  // namespace

cgroup_paths parse_cgroup_paths(std::string_view text) {
  cgroup_paths out;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    const auto id = line.substr(0, first);
    const auto controllers = line.substr(first + 1, second - first - 1);
    const std::string path(line.substr(second + 1));
    if (id == "0" && controllers.empty()) {
      out.v2 = path;
    } else {
      const std::string list = "," + std::string(controllers) + ",";
      if (list.find(",memory,") != std::string::npos) out.v1_memory = path;
    }
  }
  return out;
}

void cgroup_memory_reader::walk(std::string path, const char* dir, const char* max_file, const char* current_file,
                                entry& out) {
  // A path with ".." lies outside our cgroup namespace: nothing to read.
  if (path.empty() || path.front() != '/' || path.find("..") != std::string::npos) return;
  const std::string base = root_ + dir;
  for (;;) {
    const std::string at = base + (path == "/" ? "" : path);
    if (auto max = read_limit(at + "/" + max_file); max && (!out.memory.max || *max < *out.memory.max)) {
      out.memory.max = max;
      out.current_file = at + "/" + current_file;
      out.memory.limited_by = path;
    }
    if (path == "/") return;
    const auto slash = path.rfind('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}

const cgroup_memory& cgroup_memory_reader::of(const cgroup_paths& paths) {
  const std::string key = paths.v2.value_or("") + "\n" + paths.v1_memory.value_or("");
  auto [it, inserted] = cache_.try_emplace(key);
  entry& e = it->second;
  if (e.run == run_) return e.memory;
  e.run = run_;
  const auto now = std::chrono::steady_clock::now();
  if (inserted || now - e.walked_at >= limits_max_age_) {
    e = entry{{}, {}, now, run_};
    if (paths.v2) walk(*paths.v2, "", "memory.max", "memory.current", e);
    if (paths.v1_memory) walk(*paths.v1_memory, "/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", e);
  }
  if (e.memory.max) e.memory.current = read_limit(e.current_file);
  return e.memory;
}

void cgroup_memory_reader::next_run() {
  std::erase_if(cache_, [this](const auto& item) { return item.second.run != run_; });
  ++run_;
}

cgroup_memory cgroup_memory_reader::of_pid(long pid, const std::string& proc_root) {
  std::string text;
  if (read_proc_text(proc_root + "/" + std::to_string(pid) + "/cgroup", text) != 0) return {};
  return of(parse_cgroup_paths(text));
}

}  // namespace vitals
