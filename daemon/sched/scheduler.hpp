#pragma once

#include "daemon/sched/health_tracker.hpp"
#include "probes/core/probe.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/redaction.hpp"

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vitals {

using steady_clock = std::chrono::steady_clock;

// One finished run, as the scheduler saw it.
struct run_outcome {
  probe_result result;
  double duration_seconds = 0;  // measured by the scheduler (steady_clock)
  bool timed_out = false;       // the deadline won, or the probe gave up on time itself (reason "timeout")
  std::chrono::system_clock::time_point finished_at{};
};

// Receives what the scheduler observes (the metrics layer; the alert engine
// reads the series from there). Called on the loop thread only.
class run_sink {
public:
  virtual ~run_sink() = default;
  virtual void probe_added(const probe_settings&) {}
  virtual void probe_removed(const probe_settings&) {}
  // `up` is the state after thresholds (empty before the first run).
  virtual void run_finished(const probe_settings&, const run_outcome&, std::optional<bool> up) = 0;
  virtual void run_skipped(const probe_settings&) {}
  virtual void scheduler_lag(double seconds) { (void)seconds; }
};

// Next due time after `due`: one interval later, counted from the due time
// and not from "now", so intervals do not drift. When the loop fell behind by
// a whole interval or more, the missed slots are dropped and the next run
// stays on the old phase, first slot after `now`.
steady_clock::time_point next_due_after(steady_clock::time_point due, steady_clock::duration interval,
                                        steady_clock::time_point now);

// The scheduler's default initial offset: uniform in [0, interval), so
// probes sharing an interval spread out instead of all running at once
// after a start or reload. Zero for an interval that is not positive.
steady_clock::duration random_initial_offset(steady_clock::duration interval);

// Probes that share an interval start on one of `phases` evenly spaced
// points of it, the one `offset` (in [0, interval)) falls in, counted from
// `epoch`: the first such point at or after `now`. One phase per
// probes_per_phase probes: a handful wake the loop once per interval
// instead of once each, while thousands still spread over all of it.
inline constexpr std::size_t probes_per_phase = 16;
steady_clock::time_point first_due(steady_clock::time_point epoch, steady_clock::time_point now,
                                   steady_clock::duration interval, steady_clock::duration offset, std::size_t phases);

// Runs `p` once under `timeout`: races run() against a timer and cancels the
// loser (per-operation cancellation). A lost race is reason=timeout; an
// exception from the probe becomes reason=error. The result's text is made
// valid UTF-8 (make_valid_utf8 below). Never throws, except operation_aborted
// when the caller itself cancels it.
asio::awaitable<run_outcome> run_with_deadline(probe& p, std::chrono::milliseconds timeout);

// Every text in `result` (cause, reason, evidence keys and values, sample
// label values) with ill-formed UTF-8 replaced by U+FFFD. They quote a
// target or the host (process names, bodies, server messages, file paths),
// whose bytes can be anything; applied where a result enters the daemon, so
// /metrics, JSON, logs and the state store never see raw bytes.
void make_valid_utf8(probe_result& result);

// Every text in `result` (the same as make_valid_utf8's) with the config's
// secrets "<redacted>": a target may echo a header, a query or a password
// back into a cause, evidence or a label, whatever key it came under.
void redact(probe_result& result, const redactor& secrets);

// What /api/v1/probes and the status page show about one probe.
struct probe_status {
  probe_settings settings;
  std::string target;
  std::optional<bool> up;
  std::optional<run_outcome> last;  // without the kind's samples: the metrics layer keeps those
  bool in_flight = false;
  std::uint64_t runs_ok = 0, runs_failed = 0, runs_timed_out = 0, runs_skipped = 0;
};

// Runs every configured probe on its own interval on the loop (DESIGN §3):
// a start phase within the interval (see first_due), deadline per run, no overlap (a run
// still in flight when the next is due is skipped and counted), thresholds,
// faster `unhealthy_interval` while down. A probe may also ask for a run
// outside its schedule (probe::request_run); the schedule stays as it was.
// Loop thread only; no locks.
class scheduler {
public:
  // Picks the initial offset for a probe; returns a value in [0, interval).
  // Empty: random_initial_offset.
  using offset_picker = std::function<steady_clock::duration(steady_clock::duration interval)>;

  scheduler(asio::io_context& io, run_sink& sink, offset_picker pick_offset = {});
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  // First start and every reload. Probes whose fingerprint is unchanged keep
  // their timers, thresholds and last result; changed ones restart; removed
  // ones are stopped (an in-flight run is cancelled) and their series removed.
  // `secrets` redacts every result from now on and each new probe's target
  // (redact() above), before anything else sees them: the metrics, the
  // alerts, the state store, the API and the log read them clean.
  void apply(const std::vector<probe_spec>& probes, redactor secrets = {});

  // Stops scheduling and cancels every in-flight run.
  void stop();

  std::vector<probe_status> status() const;
  std::optional<probe_status> status_of(std::string_view name) const;  // nullopt: no such probe
  std::size_t size() const { return entries_.size(); }
  std::size_t in_flight() const;

private:
  struct entry;
  void start(const std::shared_ptr<entry>& e, steady_clock::time_point now);
  void retire(const std::shared_ptr<entry>& e);
  void on_run_request(const std::shared_ptr<entry>& e);
  void launch(const std::shared_ptr<entry>& e);
  // Each probe waits for its next due time on its own timer, through a
  // plain handler rather than a coroutine: 10,000 probes waiting would
  // otherwise hold 10,000 coroutine frames (8 MiB).
  void wait_for_due(std::shared_ptr<entry> e);
  void on_due(std::shared_ptr<entry> e, steady_clock::time_point due);
  asio::awaitable<void> run_once(std::shared_ptr<entry> e);
  steady_clock::duration current_interval(const entry& e) const;

  asio::io_context& io_;
  run_sink& sink_;
  offset_picker pick_offset_;
  std::optional<steady_clock::time_point> epoch_;  // the first apply(): phases count from it
  std::size_t phases_ = 1;                         // per interval, for the probes of the last apply()
  redactor secrets_;
  std::map<std::string, std::shared_ptr<entry>, std::less<>> entries_;
};

}  // namespace vitals
