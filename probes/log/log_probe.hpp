#pragma once

#include "probes/core/pool_call.hpp"
#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/log/log_probe_settings.hpp"

#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace vitals {

class log_reader;
class node_reader;
struct probe_settings;

// `type: log` — the runbooks' `grep ERROR | wc -l`, continuously: counts
// the lines of a file or glob, a journald unit or a Docker container's log
// that match named patterns (RE2 regexes, or conditions on JSON fields),
// and keeps the last matching lines and the top group_by values as
// evidence. Counting never fails a run; a source that cannot be read does.
// Failure reasons: missing, permission, rotated_away, not_a_file,
// log_driver, error. See docs/probes/log.md.
class log_probe final : public probe {
 public:
  static constexpr std::string_view type = "log";

  // `ctx` must outlive the probe.
  log_probe(log_probe_settings s, const probe_context& ctx);
  ~log_probe() override;

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  // Reading runs on ctx.pool, at most max_read_per_run bytes and about
  // half the timeout per run. A pass cut off by the deadline finishes in
  // the background with its counts kept; the next run waits for it rather
  // than starting a second one, so one probe never holds two pool threads.
  asio::awaitable<probe_result> run() override;
  std::string target() const override;

  const log_probe_settings& config() const { return settings_; }

 private:
  using pass_call = pool_call<probe_result>;

  log_probe_settings settings_;
  const probe_context* ctx_;
  // Shared with the pass in flight: a reload may destroy the probe while
  // the pool still reads.
  std::shared_ptr<log_reader> reader_;
  std::shared_ptr<pass_call> in_flight_;
};

}  // namespace vitals
