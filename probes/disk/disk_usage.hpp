#pragma once

// The pure part of the disk probe: numbers from statvfs, the mount table,
// text formatting and the threshold verdict. No I/O, so it is tested
// without a filesystem in a known state.

#include "probes/core/probe.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vitals {

// What statvfs said, already in bytes.
struct disk_usage {
  std::uint64_t size_bytes = 0;   // f_blocks * f_frsize
  std::uint64_t free_bytes = 0;   // f_bavail * f_frsize: what an unprivileged writer can use
  std::uint64_t inodes = 0;       // f_files; 0 on filesystems without a fixed table (btrfs)
  std::uint64_t free_inodes = 0;  // f_favail

  // free/size, or nullopt for a filesystem that reports no size (procfs).
  std::optional<double> free_ratio() const;
  std::optional<double> free_inodes_ratio() const;
};

// One line of /proc/self/mountinfo.
struct mount_entry {
  std::string mount_point;  // unescaped ("\040" -> " ")
  std::string fs_type;      // "ext4", "tmpfs", "nfs4"
  std::string source;       // "/dev/sda1", "server:/export", "tmpfs"
};

// The mount holding `real_path` (absolute, symlinks resolved): the longest
// mount point that is a prefix of it on a path-component boundary. Of equal
// mount points the last listed wins, since a later mount covers an earlier
// one. nullopt when the text has no usable line.
std::optional<mount_entry> find_mount(std::string_view mountinfo, std::string_view real_path);

// "512 B", "3.1 GiB". Rounds down, so a free amount is never overstated.
std::string format_bytes(std::uint64_t bytes);
// A measured ratio: 0.128 -> "12%", 0.047 -> "4.7%" (one decimal below 10%).
// Rounds down, so "19% free, below 20%" never reads "20% free, below 20%".
std::string format_percent(double ratio);

struct disk_thresholds {
  std::optional<double> min_free_ratio{};  // 0..1
  std::optional<std::uint64_t> min_free{};  // bytes
};

// The run's verdict on a successful statvfs: samples, the free/inodes
// evidence, and a low_space failure when a threshold is crossed. `path` is
// the configured path, used in the error text.
probe_result judge_disk_usage(std::string_view path, const disk_usage& usage, const disk_thresholds& limits);

// The run's verdict when statvfs(path) failed with `error` (an errno):
// missing, permission or error, with a one-line message.
probe_result disk_failure(std::string_view path, int error);

}  // namespace vitals
