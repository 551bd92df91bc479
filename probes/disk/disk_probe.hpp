#pragma once

#include "probes/core/pool_call.hpp"
#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/disk/disk_usage.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vitals {

class node_reader;
struct disk_observation;  // what one statvfs on the pool found; in disk_probe.cpp
struct probe_settings;

// `type: disk` — statvfs on a path: free and total bytes, free ratio, free
// inodes, and the mount it lives on. Low space fails the run only when
// min_free_ratio or min_free is set; otherwise the DiskSpaceLow alert rule
// decides. Failure reasons: missing, permission, low_space, error.
// See docs/probes/disk.md.
class disk_probe final : public probe {
public:
  static constexpr std::string_view type = "disk";

  struct settings {
    std::string path;  // absolute; a directory or a file
    disk_thresholds limits;
  };

  // `ctx` must outlive the probe.
  disk_probe(settings s, const probe_context& ctx);

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  // statvfs and the mount lookup run on ctx.pool. When cancelled while they
  // hang (a dead NFS server), returns at once; the pool call finishes in the
  // background, and the next run waits for it instead of starting another,
  // so a hung mount holds at most one pool thread per probe.
  asio::awaitable<probe_result> run() override;
  std::string target() const override { return settings_.path; }

  const settings& config() const { return settings_; }

private:
  using statvfs_call = pool_call<disk_observation>;

  settings settings_;
  const probe_context* ctx_;
  std::shared_ptr<statvfs_call> in_flight_;  // the latest call, possibly still running
};

}  // namespace vitals
