#pragma once

// What each probe did lately, for the status page and
// /api/v1/probes/NAME/history: its last runs in memory, and aggregates of
// its runs per minute, per 10 minutes and per hour (runs, failures,
// duration min/avg/max and the kind's key values), which the state keeper
// writes to the state store as each one closes. Uptime over 1 h, 24 h and
// 7 d comes from the closed aggregates kept here, so the page never reads
// the store for it. Loop thread only; no I/O.

#include "daemon/sched/scheduler.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

// How a run ended, as the history strip shows it.
enum class run_end : std::uint8_t { ok, failed, timed_out, skipped };
std::string_view run_end_name(run_end e);  // "ok", "failed", "timed_out", "skipped"

// The one to three numbers a responder looks at first for a kind, besides
// the run's duration: Redis memory used and its limit, PostgreSQL sessions,
// max_connections and the oldest idle transaction, and so on
// (docs/status-page.md lists them). Each is read from the run's samples.
struct history_key {
  enum class fold : std::uint8_t {
    last,      // the value of the last run in the aggregate
    max,       // the highest (a lock held for 10 s of a minute shows)
    increase,  // a counter: how much it went up (a reset counts from 0)
  };
  std::string_view name;    // in the API: "memory_used_bytes"
  std::string_view title;   // on the page: "memory used"
  std::string_view unit;    // "bytes", "seconds", "ratio" or "" (a count)
  std::string_view metric;  // the sample it is read from; several samples are summed
  fold how = fold::last;
};
inline constexpr std::size_t max_history_keys = 3;
std::span<const history_key> history_keys(std::string_view kind);

// The key values of one run: NaN where the run gave none.
using key_values = std::array<double, max_history_keys>;
key_values read_key_values(std::string_view kind, const std::vector<sample>& samples);

// The steps aggregates are kept at, finest first, and how long each is
// kept at most (state.history_max_age caps them all): a 1 h chart draws
// minutes, a 24 h chart 10-minute steps, a 7 d chart hours.
struct history_tier {
  std::chrono::seconds step;
  std::chrono::seconds keep;
};
inline constexpr std::array<history_tier, 3> history_tiers{{
    {std::chrono::seconds(60), std::chrono::hours(6)},
    {std::chrono::seconds(600), std::chrono::hours(48)},
    {std::chrono::seconds(3600), std::chrono::hours(24 * 366)},
}};
// The tier a chart over `range` is drawn from: the finest that keeps it.
const history_tier& tier_for(std::chrono::seconds range);

// The runs of one probe in [start, start + step).
struct history_bucket {
  std::int64_t start_ms = 0;  // Unix ms, a multiple of step
  std::int32_t step_s = 60;
  std::uint32_t runs = 0;       // ok + failed + timed out (skipped runs did not run)
  std::uint32_t failed = 0;     // failed, not counting timeouts
  std::uint32_t timed_out = 0;
  std::uint32_t skipped = 0;
  double duration_min = 0, duration_sum = 0, duration_max = 0;  // seconds, of the runs
  key_values keys = nan_keys();

  static key_values nan_keys();
  std::uint32_t good() const { return runs - failed - timed_out; }
  // Adds one run, or another aggregate of the same span (folding the keys
  // as `kind` says).
  void add(run_end end, double duration_seconds, const key_values& values, std::string_view kind);
  void merge(const history_bucket& other, std::string_view kind);
};

// An aggregate with the probe it belongs to: a row of the state store.
struct history_row {
  std::string probe;
  std::string kind;
  history_bucket bucket;
};

// One run as the strip shows it.
struct recent_run {
  std::int64_t at_ms = 0;  // when it finished (skipped: when it was due)
  float duration_seconds = 0;
  run_end end = run_end::ok;
  std::shared_ptr<const std::string> cause;  // failed and timed-out runs only
};

// Good runs over all runs (skipped ones left out); nullopt without a run.
struct uptime {
  std::uint64_t good = 0, runs = 0;
  std::optional<double> ratio() const {
    return runs ? std::optional(static_cast<double>(good) / static_cast<double>(runs)) : std::nullopt;
  }
};

class probe_history {
public:
  static constexpr std::size_t recent_runs_kept = 90;

  // A probe is configured (the scheduler added it): it gets a history,
  // or keeps the one it has under its name.
  void probe_added(const probe_settings& s);
  // After a config is applied: histories of names not in it go.
  void keep_only(const std::vector<std::string>& names);

  void run_finished(const probe_settings& s, const run_outcome& out);
  void run_skipped(const probe_settings& s, std::chrono::system_clock::time_point at);

  // Aggregates whose span ended by `now` are closed; take_closed() hands
  // them over (to be written) and forgets them.
  void close_due(std::chrono::system_clock::time_point now);
  std::vector<history_row> take_closed();
  // Every open aggregate, as it stands (at shutdown: a restart within the
  // same minute goes on from it).
  std::vector<history_row> open_rows() const;

  // What the store kept from earlier runs of the daemon: the closed
  // aggregates that uptime counts, and open ones a restart goes on from.
  // Rows of probes not configured are ignored.
  void restore(const std::vector<history_row>& rows, std::chrono::system_clock::time_point now);

  // --- What the views read ------------------------------------------------
  struct view {
    std::string kind;
    std::vector<recent_run> runs;  // oldest first
    std::vector<key_values> run_keys;  // per run, same order (empty for kinds without keys)
    uptime last_hour, last_day, last_week;
  };
  std::optional<view> find(std::string_view name, std::chrono::system_clock::time_point now) const;
  // Closed aggregates of `step` for `name` not yet taken by take_closed().
  std::vector<history_bucket> closed_not_taken(std::string_view name, std::chrono::seconds step) const;
  // The open aggregate of `step` for `name`, if it has one.
  std::optional<history_bucket> open_bucket(std::string_view name, std::chrono::seconds step) const;

  std::size_t probes() const { return probes_.size(); }

  // Closed aggregates of one step, good and all runs, in a ring indexed
  // by start / step: what the uptime windows add up. `span` slots cover
  // the window and the step going on. A slot holds its two counts in 16
  // bits each (4 bytes: a week of hours is 680 bytes a probe) until a step
  // counts more than 65,535 runs; then the ring widens to 32 bits each.
  class uptime_ring {
  public:
    uptime_ring(std::int32_t step_ms, std::uint16_t span) : step_ms_(step_ms), span_(span) {}
    void add(const history_bucket& b);
    // Closed steps that started at or after since_ms.
    uptime since(std::int64_t since_ms) const;

  private:
    std::array<std::uint32_t, 2> slot(std::size_t i) const;  // good, runs
    void set(std::size_t i, std::array<std::uint32_t, 2> counts);

    std::int64_t newest_ = 0;  // start / step of the newest slot in use, once slots_ is allocated
    std::int32_t step_ms_;
    std::uint16_t span_;
    bool wide_ = false;
    // Narrow: one word a slot, good in the low half; wide: two words a
    // slot. Allocated at the first add.
    std::vector<std::uint32_t> slots_;
  };

private:
  // 12 bytes a run: at 10,000 probes the ring is the history's largest
  // part. The finish time is 48 bits of Unix ms (thousands of years either
  // way), split so that no member needs 8-byte alignment.
  struct stored_run {
    std::uint32_t at_low = 0;
    std::int16_t at_high = 0;
    run_end end = run_end::ok;
    std::uint8_t cause = 0;  // 1 + index into entry::causes; 0 for none
    float duration_seconds = 0;

    stored_run() = default;
    stored_run(std::int64_t at_ms, float duration, run_end e);
    std::int64_t at_ms() const { return static_cast<std::int64_t>(at_high) * (std::int64_t{1} << 32) + at_low; }
  };
  static_assert(sizeof(stored_run) == 12);
  struct entry {
    std::string kind;
    std::vector<stored_run> runs;  // a ring of recent_runs_kept
    std::vector<key_values> run_keys;
    std::vector<std::shared_ptr<const std::string>> causes;  // distinct causes; one slot per run at most
    std::size_t next = 0;         // where the next run goes once the ring is full
    key_values counters = history_bucket::nan_keys();  // the last value of each counter key
    std::array<std::optional<history_bucket>, history_tiers.size()> open;
    uptime_ring minutes{60'000, 62};    // closed minutes of the last hour
    uptime_ring hours{3'600'000, 170};  // closed hours of the last week
  };
  void add(entry& e, const std::string& name, run_end end, double duration, const key_values& keys,
           std::string cause, std::chrono::system_clock::time_point at);
  static std::uint8_t cause_slot(entry& e, std::string cause);
  void close(entry& e, const std::string& name, std::size_t tier);

  std::map<std::string, entry, std::less<>> probes_;
  std::vector<history_row> closed_;
};

}  // namespace vitals
