#include "probes/disk/disk_usage.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace vitals {

std::optional<double> disk_usage::free_ratio() const {
  if (size_bytes == 0) return std::nullopt;
  return static_cast<double>(free_bytes) / static_cast<double>(size_bytes);
}

std::optional<double> disk_usage::free_inodes_ratio() const {
  if (inodes == 0) return std::nullopt;
  return static_cast<double>(free_inodes) / static_cast<double>(inodes);
}

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto is_octal = [&](std::size_t at) { return at < text.size() && text[at] >= '0' && text[at] <= '7'; };
    if (text[i] == '\\' && is_octal(i + 1) && is_octal(i + 2) && is_octal(i + 3)) {
      out += static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += text[i];
  }
  return out;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

// Is `mount_point` `path` itself or one of its ancestors?
bool covers(std::string_view mount_point, std::string_view path) {
  if (mount_point == "/") return !path.empty() && path.front() == '/';
  if (!path.starts_with(mount_point)) return false;
  return path.size() == mount_point.size() || path[mount_point.size()] == '/';
}

// "20%", "12.5%", "0.25%": as configured, not rounded to what a measurement shows.
std::string format_limit_percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", ratio * 100);
  std::string text = buf;
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text + "%";
}

}  // namespace

std::optional<mount_entry> find_mount(std::string_view mountinfo, std::string_view real_path) {
  std::optional<mount_entry> best;
  while (!mountinfo.empty()) {
    const auto eol = mountinfo.find('\n');
    const std::string_view line = mountinfo.substr(0, eol);
    mountinfo = eol == std::string_view::npos ? std::string_view() : mountinfo.substr(eol + 1);

    // id parent major:minor root mount_point options [optional...] - fstype source super_options
    const auto fields = split_fields(line);
    if (fields.size() < 7) continue;
    std::size_t dash = 6;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash + 1 >= fields.size()) continue;  // no filesystem type: not a mountinfo line
    std::string mount_point = unescape_octal(fields[4]);
    if (!covers(mount_point, real_path)) continue;
    // >=: of equal mount points the later (covering) mount wins.
    if (best && mount_point.size() < best->mount_point.size()) continue;
    mount_entry entry;
    entry.mount_point = std::move(mount_point);
    entry.fs_type = unescape_octal(fields[dash + 1]);
    if (dash + 2 < fields.size()) entry.source = unescape_octal(fields[dash + 2]);
    best = std::move(entry);
  }
  return best;
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  std::size_t unit = 0;
  std::uint64_t divisor = 1;
  while (unit + 1 < std::size(units) && bytes / divisor >= 1024) {
    divisor *= 1024;
    ++unit;
  }
  // Integer arithmetic, rounding down: remainder < divisor <= 2^60, so *10 fits.
  const std::uint64_t whole = bytes / divisor;
  const std::uint64_t tenths = (bytes % divisor) * 10 / divisor;
  return std::to_string(whole) + "." + std::to_string(tenths) + " " + units[unit];
}

std::string format_percent(double ratio) {
  const double percent = ratio * 100;
  if (percent >= 10) return std::to_string(static_cast<long long>(std::floor(percent))) + "%";
  const double tenths = std::floor(percent * 10) / 10;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", tenths);
  std::string text = buf;
  if (text.ends_with(".0")) text.resize(text.size() - 2);
  return text + "%";
}

probe_result judge_disk_usage(std::string_view path, const disk_usage& usage, const disk_thresholds& limits) {
  probe_result result = probe_result::success();
  const auto ratio = usage.free_ratio();
  result.samples.push_back({"vitals_disk_free_bytes", {}, static_cast<double>(usage.free_bytes)});
  result.samples.push_back({"vitals_disk_size_bytes", {}, static_cast<double>(usage.size_bytes)});
  if (ratio) result.samples.push_back({"vitals_disk_free_ratio", {}, *ratio});
  // A filesystem without an inode table (btrfs) reports 0 of 0: a 0 here
  // would read as "inodes exhausted", so both inode series are left out.
  if (const auto inode_ratio = usage.free_inodes_ratio()) {
    result.samples.push_back({"vitals_disk_free_inodes", {}, static_cast<double>(usage.free_inodes)});
    result.samples.push_back({"vitals_disk_free_inodes_ratio", {}, *inode_ratio});
  }

  const std::string free_text = format_bytes(usage.free_bytes);
  const std::string size_text = format_bytes(usage.size_bytes);
  result.evidence.emplace_back("free", free_text + " of " + size_text +
                                           (ratio ? " (" + format_percent(*ratio) + ")" : std::string()));
  result.evidence.emplace_back(
      "inodes", usage.inodes == 0 ? std::string("not reported by the filesystem")
                                  : std::to_string(usage.free_inodes) + " of " + std::to_string(usage.inodes) +
                                        " free (" + format_percent(*usage.free_inodes_ratio()) + ")");

  // A filesystem without a size (procfs) has no ratio to fall below.
  const bool below_ratio = limits.min_free_ratio && ratio && *ratio < *limits.min_free_ratio;
  const bool below_bytes = limits.min_free && usage.free_bytes < *limits.min_free;
  if (!below_ratio && !below_bytes) return result;

  std::string error = std::string(path) + ": ";
  if (below_ratio) {
    error += format_percent(*ratio) + " free (" + free_text + " of " + size_text + "), below " +
             format_limit_percent(*limits.min_free_ratio);
    if (below_bytes) error += " and " + format_bytes(*limits.min_free);
  } else {
    error += free_text + " free of " + size_text + ", below " + format_bytes(*limits.min_free);
  }
  result.ok = false;
  result.reason = "low_space";
  result.error = std::move(error);
  return result;
}

probe_result disk_failure(std::string_view path, int error) {
  const std::string where = std::string(path) + ": ";
  switch (error) {
    case ENOENT: return probe_result::failure("missing", where + "does not exist");
    // statvfs("/etc/passwd/x"): the path cannot exist either.
    case ENOTDIR: return probe_result::failure("missing", where + "does not exist (a parent is not a directory)");
    case EACCES:
      return probe_result::failure("permission", where + "permission denied (a parent directory is not searchable)");
    default: return probe_result::failure("error", where + "statvfs failed: " + std::strerror(error));
  }
}

}  // namespace vitals
