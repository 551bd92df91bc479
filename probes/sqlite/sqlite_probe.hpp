#pragma once

#include "probes/core/pool_call.hpp"
#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/sqlite/sqlite_inspect.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace vitals {

class node_reader;
struct probe_settings;

// `type: sqlite` — "database is locked: who holds it, since when, and is the
// file healthy?", answered without causing the lock it reports. A default
// run opens no SQLite connection: it reads the 100-byte header, the
// wal-index header in -shm, file sizes and the kernel's lock table. The
// opt-in integrity check opens a read-only connection on its own slower
// interval. Failure reasons: missing, permission, not_a_database, malformed,
// hot_journal, locked, replaced, error. See docs/probes/sqlite.md.
class sqlite_probe final : public probe {
public:
  static constexpr std::string_view type = "sqlite";
  using clock = std::chrono::steady_clock;

  struct settings {
    std::string path;  // absolute
    integrity_mode integrity = integrity_mode::none;
    clock::duration integrity_interval = std::chrono::hours(1);
    // A writer's lock seen for at least this long fails the run. Zero: any
    // writer lock seen fails it.
    clock::duration max_lock_held = clock::duration::zero();
    std::string proc_root = "/proc";  // tests only
  };

  // `ctx` must outlive the probe.
  sqlite_probe(settings s, const probe_context& ctx);

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  asio::awaitable<probe_result> run() override;
  std::string target() const override { return settings_.path; }

  const settings& config() const { return settings_; }

private:
  using inspect_call = pool_call<sqlite_inspection>;

  probe_result judge(const sqlite_inspection& seen, clock::time_point now);

  settings settings_;
  const probe_context* ctx_;
  std::shared_ptr<inspect_call> in_flight_;  // the latest inspection, possibly still running
  const inspect_call* judged_ = nullptr;      // the last inspection a run reported on
  std::optional<clock::time_point> last_integrity_attempt_;
  std::optional<integrity_outcome> last_integrity_;  // the last check that finished
  // A writer's lock seen in consecutive runs with a pid in common is one
  // continuous hold: since when, and by whom.
  std::optional<clock::time_point> locked_since_;
  std::set<int> locking_pids_;
};

}  // namespace vitals
