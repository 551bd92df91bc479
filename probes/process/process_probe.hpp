#pragma once

#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/process/process_scan.hpp"
#include "probes/process/rss_growth_tracker.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vitals {

class node_reader;
struct probe_settings;

// `type: process` — `ps aux | grep node | awk '{sum+=$6}'`, done properly:
// count, summed RSS, fds against the tightest limit, CPU seconds, and the
// RSS growth slope over a window (the memory-leak signal) of the processes
// a matcher selects. Failure reason: no_match (fewer than min_count
// matches). Growth is never a failure: the ProcessMemoryLeak rule decides.
// See docs/probes/process.md.
class process_probe final : public probe {
public:
  static constexpr std::string_view type = "process";

  struct settings {
    process_matcher match;                              // at least one matcher set
    std::int64_t min_count = 1;
    std::chrono::steady_clock::duration growth_window = std::chrono::minutes(10);
    // A process's RSS counts toward growth only from this age on: start-up
    // (loading code, filling caches) is not a leak. Unset: 1m, or the
    // growth window when that is shorter.
    std::optional<std::chrono::steady_clock::duration> growth_min_age;
    std::optional<std::uint64_t> rss_limit;             // overrides the cgroup's memory.max
    bool show_cmdline = true;                           // command lines in evidence (redacted even so)
    std::string proc_root = "/proc";                    // tests point these at fakes
    std::string cgroup_root = "/sys/fs/cgroup";
  };

  // `ctx` must outlive the probe.
  process_probe(settings s, const probe_context& ctx);

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  asio::awaitable<probe_result> run() override;
  std::string target() const override;

  const settings& config() const { return *settings_; }
  const rss_growth_tracker& growth() const { return growth_; }
  std::chrono::steady_clock::duration growth_min_age() const;

private:
  // Shared with the pool thread of a scan that may outlive an abandoned run.
  std::shared_ptr<const settings> settings_;
  std::shared_ptr<process_scanner> scanner_;  // remembers the host's pids between runs; the same sharing
  const probe_context* ctx_;
  rss_growth_tracker growth_;  // touched on the loop only
};

}  // namespace vitals
