#include "probes/disk/disk_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/pool_call.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/text_file.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

namespace vitals {

// Everything a run learns on the pool; plain data, handed to the loop.
struct disk_observation {
  int error = 0;  // errno of statvfs; 0 on success
  disk_usage usage;
  std::string real_path;  // symlinks resolved; empty when unknown
  std::optional<mount_entry> mount;
  // For a missing path: its deepest existing ancestor, and that one's
  // mount. An unmounted data disk shows up as "parent /mnt on /".
  std::string existing_parent;
};

namespace {

constexpr metric_info disk_metrics[] = {
    {"vitals_disk_free_bytes", "Bytes an unprivileged writer can still use (statvfs f_bavail * f_frsize).",
     metric_kind::gauge},
    {"vitals_disk_size_bytes", "Size of the filesystem holding the path, in bytes (f_blocks * f_frsize).",
     metric_kind::gauge},
    {"vitals_disk_free_ratio", "vitals_disk_free_bytes / vitals_disk_size_bytes, 0..1.", metric_kind::gauge},
    {"vitals_disk_free_inodes", "Inodes an unprivileged writer can still use (f_favail); absent when the "
                                "filesystem reports no inodes (btrfs).",
     metric_kind::gauge},
    {"vitals_disk_free_inodes_ratio", "Free inodes / total inodes, 0..1; absent when the filesystem reports no inodes.",
     metric_kind::gauge},
};

std::string real_path_of(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return {};
  std::string text = resolved;
  std::free(resolved);
  return text;
}

std::optional<mount_entry> mount_of(const std::string& real_path) {
  if (real_path.empty()) return std::nullopt;
  std::string mountinfo;
  if (read_text_file("/proc/self/mountinfo", mountinfo) != 0) return std::nullopt;
  return find_mount(mountinfo, real_path);
}

// "/a/b/c" -> "/a/b"; "/a" -> "/".
std::string parent_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// Runs on the pool: every call here may block on a dead network mount.
disk_observation observe(const std::string& path) {
  disk_observation o;
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    o.error = errno;
    if (o.error == ENOENT || o.error == ENOTDIR) {
      std::string parent = path;
      struct stat info {};
      do {
        parent = parent_of(parent);
      } while (parent != "/" && ::stat(parent.c_str(), &info) != 0);
      o.existing_parent = parent;
      o.real_path = real_path_of(parent);
      o.mount = mount_of(o.real_path);
    }
    return o;
  }
  const std::uint64_t fragment = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
  o.usage.size_bytes = static_cast<std::uint64_t>(st.f_blocks) * fragment;
  o.usage.free_bytes = static_cast<std::uint64_t>(st.f_bavail) * fragment;
  o.usage.inodes = st.f_files;
  o.usage.free_inodes = st.f_favail;
  o.real_path = real_path_of(path);
  o.mount = mount_of(o.real_path);
  return o;
}

std::string mount_text(const mount_entry& m) { return m.mount_point; }

std::string filesystem_text(const mount_entry& m) {
  return m.source.empty() || m.source == m.fs_type ? m.fs_type : m.fs_type + " (" + m.source + ")";
}

probe_result failure_of(const std::string& path, const disk_observation& o) {
  probe_result result = disk_failure(path, o.error);
  if (!o.existing_parent.empty()) {
    result.evidence.emplace_back("existing parent", o.existing_parent);
    if (o.mount) {
      result.evidence.emplace_back("parent mount", mount_text(*o.mount));
      result.evidence.emplace_back("parent filesystem", filesystem_text(*o.mount));
    }
  }
  return result;
}

}  // namespace

disk_probe::disk_probe(settings s, const probe_context& ctx) : settings_(std::move(s)), ctx_(&ctx) {
  if (settings_.path.empty() || settings_.path.front() != '/')
    throw std::invalid_argument("disk_probe: path must be absolute");
}

std::span<const metric_info> disk_probe::metrics() { return disk_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert disk_alerts[] = {
    {"DiskSpaceLow", "last_over_time(vitals_disk_free_ratio[{hold}]) < {}", 0.2, 5min, "medium",
     "{{ $labels.probe }} has {{ $value | humanizePercentage }} free",
     "The filesystem checked by {{ $labels.probe }} is running out of space.", threshold_unit::ratio},
};

}  // namespace

std::span<const builtin_alert> disk_probe::alerts() { return disk_alerts; }

asio::awaitable<probe_result> disk_probe::run() {
  // A call still hanging from an earlier, timed-out run is waited for rather
  // than joined by a second blocked pool thread.
  if (!in_flight_ || in_flight_->finished())
    in_flight_ = statvfs_call::start(*ctx_, [path = settings_.path](const std::atomic<bool>&) { return observe(path); });
  // Our own copy: a reload may destroy the probe while we wait.
  const auto call = in_flight_;
  co_await call->wait("statvfs");

  const auto& o = call->value();
  if (o.error != 0) co_return failure_of(settings_.path, o);

  probe_result result = judge_disk_usage(settings_.path, o.usage, settings_.limits);
  evidence_list where;
  if (!o.real_path.empty() && o.real_path != settings_.path) where.emplace_back("real path", o.real_path);
  if (o.mount) {
    where.emplace_back("mount", mount_text(*o.mount));
    where.emplace_back("filesystem", filesystem_text(*o.mount));
  } else {
    where.emplace_back("mount", "unknown (not found in /proc/self/mountinfo)");
  }
  result.evidence.insert(result.evidence.begin(), where.begin(), where.end());
  co_return result;
}

// ---------------------------------------------------------------------------
// Configuration.

probe_builder disk_probe::create(const probe_settings&, node_reader& r) {
  settings s;
  r.read_required("path", s.path, absolute_path{"the daemon's working directory is not yours"});
  r.read("min_free_ratio", s.limits.min_free_ratio, [](double ratio, const std::string& shown) {
    if (ratio >= 0 && ratio <= 1) return std::string();
    return shown + " is not a ratio between 0 and 1" + (ratio > 1 && ratio <= 100 ? " (for 20% write 0.2)" : "");
  });
  r.read_size("min_free", s.limits.min_free);
  if (r.failed()) return {};
  return [s = std::move(s)](const probe_context& ctx) { return std::make_unique<disk_probe>(s, ctx); };
}

}  // namespace vitals
