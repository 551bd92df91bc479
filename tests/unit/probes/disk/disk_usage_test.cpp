#include "probes/disk/disk_usage.hpp"

#include <gtest/gtest.h>

#include <cerrno>

#include <optional>
#include <string>

namespace vitals {
namespace {

constexpr std::uint64_t gib = 1024ull * 1024 * 1024;

std::optional<double> sample_value(const probe_result& r, const std::string& name) {
  for (const auto& s : r.samples)
    if (s.name == name) return s.value;
  return std::nullopt;
}

std::string evidence_value(const probe_result& r, const std::string& key) {
  for (const auto& [k, v] : r.evidence)
    if (k == key) return v;
  return "<absent>";
}

// A trimmed copy of a real /proc/self/mountinfo, with an overmount and an
// escaped space.
constexpr std::string_view mountinfo =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
    "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
    "24 22 0:22 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw,inode64\n"
    "30 22 8:17 / /var/lib rw,relatime shared:20 - xfs /dev/sdb1 rw\n"
    "31 22 0:40 / /var/lib/postgresql rw,relatime - nfs4 db:/export rw,vers=4.2\n"
    "32 22 8:33 / /mnt/my\\040disk rw,relatime - btrfs /dev/sdc1 rw\n"
    "33 31 0:41 / /var/lib/postgresql rw,relatime - ext4 /dev/sdd1 rw\n"
    "garbage line\n";

TEST(disk_usage, find_mount_picks_the_longest_prefix_on_a_component_boundary) {
  auto m = find_mount(mountinfo, "/var/lib/docker/volumes");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/var/lib");
  EXPECT_EQ(m->fs_type, "xfs");
  EXPECT_EQ(m->source, "/dev/sdb1");

  // "/var/library" is not under "/var/lib".
  m = find_mount(mountinfo, "/var/library");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/");
  EXPECT_EQ(m->fs_type, "ext4");
}

TEST(disk_usage, find_mount_matches_the_mount_point_itself) {
  auto m = find_mount(mountinfo, "/dev/shm");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/dev/shm");
  EXPECT_EQ(m->fs_type, "tmpfs");
}

TEST(disk_usage, find_mount_prefers_the_later_of_two_mounts_on_one_point) {
  auto m = find_mount(mountinfo, "/var/lib/postgresql/16/main");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->fs_type, "ext4");  // mounted over the nfs4 one
  EXPECT_EQ(m->source, "/dev/sdd1");
}

TEST(disk_usage, find_mount_unescapes_spaces) {
  auto m = find_mount(mountinfo, "/mnt/my disk/photos");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/mnt/my disk");
  EXPECT_EQ(m->fs_type, "btrfs");
}

TEST(disk_usage, find_mount_without_lines_finds_nothing) {
  EXPECT_FALSE(find_mount("", "/tmp"));
  EXPECT_FALSE(find_mount("not a mountinfo\n", "/tmp"));
}

TEST(disk_usage, format_bytes_uses_binary_units_and_rounds_down) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(25 * gib), "25.0 GiB");
  EXPECT_EQ(format_bytes(gib * 31 / 10), "3.0 GiB");  // 3.0999...: never rounded up
  EXPECT_EQ(format_bytes(gib * 32 / 10 + 1), "3.2 GiB");  // the first byte of 3.2
  EXPECT_EQ(format_bytes(5 * gib * 1024), "5.0 TiB");
  EXPECT_EQ(format_bytes(~std::uint64_t{0}), "15.9 EiB");
}

TEST(disk_usage, format_percent_rounds_down) {
  EXPECT_EQ(format_percent(1.0), "100%");
  EXPECT_EQ(format_percent(0.128), "12%");
  EXPECT_EQ(format_percent(0.19999), "19%");
  EXPECT_EQ(format_percent(0.047), "4.7%");
  EXPECT_EQ(format_percent(0.05), "5%");
  EXPECT_EQ(format_percent(0.0), "0%");
}

TEST(disk_usage, plenty_of_space_is_ok_with_every_series) {
  const disk_usage u{100 * gib, 40 * gib, 1000, 250};
  const auto r = judge_disk_usage("/data", u, {});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.reason, "");
  EXPECT_EQ(sample_value(r, "vitals_disk_free_bytes"), 40.0 * gib);
  EXPECT_EQ(sample_value(r, "vitals_disk_size_bytes"), 100.0 * gib);
  EXPECT_DOUBLE_EQ(*sample_value(r, "vitals_disk_free_ratio"), 0.4);
  EXPECT_EQ(sample_value(r, "vitals_disk_free_inodes"), 250.0);
  EXPECT_DOUBLE_EQ(*sample_value(r, "vitals_disk_free_inodes_ratio"), 0.25);
  EXPECT_EQ(evidence_value(r, "free"), "40.0 GiB of 100.0 GiB (40%)");
  EXPECT_EQ(evidence_value(r, "inodes"), "250 of 1000 free (25%)");
}

TEST(disk_usage, low_space_without_a_threshold_is_not_a_failure) {
  const disk_usage u{100 * gib, 1 * gib, 1000, 0};
  const auto r = judge_disk_usage("/data", u, {});
  EXPECT_TRUE(r.ok) << "the DiskSpaceLow alert rule decides, not the probe";
}

TEST(disk_usage, below_min_free_ratio_fails_with_low_space) {
  // 3.1 GiB of 25 GiB is 12.4%.
  const disk_usage u{25 * gib, gib * 31 / 10 + gib / 100, 1000, 500};
  const auto r = judge_disk_usage("/var/lib/postgresql", u, {.min_free_ratio = 0.2});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "low_space");
  EXPECT_EQ(r.error, "/var/lib/postgresql: 12% free (3.1 GiB of 25.0 GiB), below 20%");
  EXPECT_TRUE(sample_value(r, "vitals_disk_free_bytes")) << "samples are reported on failure too";
}

TEST(disk_usage, exactly_at_min_free_ratio_is_ok) {
  const disk_usage u{100, 20, 0, 0};
  EXPECT_TRUE(judge_disk_usage("/d", u, {.min_free_ratio = 0.2}).ok);
}

TEST(disk_usage, below_min_free_fails_with_low_space) {
  const disk_usage u{25 * gib, 3 * gib, 1000, 500};
  const auto r = judge_disk_usage("/data", u, {.min_free = 5 * gib});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "low_space");
  EXPECT_EQ(r.error, "/data: 3.0 GiB free of 25.0 GiB, below 5.0 GiB");
}

TEST(disk_usage, below_both_thresholds_names_both) {
  const disk_usage u{25 * gib, 3 * gib, 1000, 500};
  const auto r = judge_disk_usage("/data", u, {.min_free_ratio = 0.125, .min_free = 5 * gib});
  EXPECT_EQ(r.error, "/data: 12% free (3.0 GiB of 25.0 GiB), below 12.5% and 5.0 GiB");
}

TEST(disk_usage, no_inode_table_leaves_out_the_inode_series) {
  const disk_usage u{100 * gib, 40 * gib, 0, 0};  // btrfs
  const auto r = judge_disk_usage("/data", u, {});
  EXPECT_FALSE(sample_value(r, "vitals_disk_free_inodes"));
  EXPECT_FALSE(sample_value(r, "vitals_disk_free_inodes_ratio"));
  EXPECT_EQ(evidence_value(r, "inodes"), "not reported by the filesystem");
}

TEST(disk_usage, a_filesystem_without_size_has_no_ratio_and_no_ratio_failure) {
  const disk_usage u{0, 0, 0, 0};  // procfs
  const auto r = judge_disk_usage("/proc", u, {.min_free_ratio = 0.5});
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(sample_value(r, "vitals_disk_free_ratio"));
  EXPECT_EQ(sample_value(r, "vitals_disk_size_bytes"), 0.0);
}

TEST(disk_usage, statvfs_errors_map_to_reasons) {
  auto r = disk_failure("/mnt/backup", ENOENT);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "missing");
  EXPECT_EQ(r.error, "/mnt/backup: does not exist");

  r = disk_failure("/etc/passwd/x", ENOTDIR);
  EXPECT_EQ(r.reason, "missing");
  EXPECT_EQ(r.error, "/etc/passwd/x: does not exist (a parent is not a directory)");

  r = disk_failure("/home/alice/data", EACCES);
  EXPECT_EQ(r.reason, "permission");
  EXPECT_EQ(r.error, "/home/alice/data: permission denied (a parent directory is not searchable)");

  r = disk_failure("/data", EIO);
  EXPECT_EQ(r.reason, "error");
  EXPECT_EQ(r.error.rfind("/data: statvfs failed: ", 0), 0u) << r.error;
  EXPECT_TRUE(r.samples.empty());
}

}  // namespace
}  // namespace vitals
