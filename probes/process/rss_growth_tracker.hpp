#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

namespace vitals {

// One process instance: a pid alone is not enough, the kernel reuses pids.
// start_ticks is /proc/<pid>/stat field 22 (start time in clock ticks since
// boot), so a restarted process that got the same pid is a different key.
struct process_key {
  int pid = 0;
  std::uint64_t start_ticks = 0;

  friend auto operator<=>(const process_key&, const process_key&) = default;
};

struct rss_sample {
  process_key key;
  std::uint64_t rss_bytes = 0;
};

// Least-squares RSS growth of a set of processes over a sliding window, the
// memory-leak signal of the process probe. No I/O and no clock of its own:
// callers pass the time of each scan, so tests drive it with made-up times.
//
// The slope is computed per process instance and summed over the processes
// present in the latest scan. A process that exits takes its history with
// it, and a new one (a restart, or one more worker) starts with none, so
// neither looks like growth: summing RSS first and fitting a line through
// the sum would turn every restart or new worker into a step, i.e. a slope.
// Not thread-safe; one owner.
class rss_growth_tracker {
public:
  using clock = std::chrono::steady_clock;

  // A process's own slope counts only once its series holds at least
  // min_points points spanning at least min_span(); the same rule for the
  // scans as a whole decides whether growth_per_second() has an answer.
  static constexpr std::size_t min_points = 3;
  // Caps memory when runs are much more frequent than the window is long:
  // beyond it, every second point is dropped (the span stays).
  static constexpr std::size_t max_points_per_process = 512;

  explicit rss_growth_tracker(clock::duration window);

  // Records one scan taken at `at`. Processes missing from `current` are
  // forgotten; points older than the window are dropped. A time earlier than
  // the previous scan's (should not happen with a steady clock) restarts
  // the history.
  void add(clock::time_point at, const std::vector<rss_sample>& current);

  // Bytes per second summed over the processes of the latest scan; nullopt
  // until the scans themselves span min_points and min_span(). Processes
  // without enough history of their own contribute 0.
  std::optional<double> growth_per_second() const;
  // One process's slope, nullopt while it has too little history.
  std::optional<double> growth_per_second(const process_key& key) const;

  clock::duration window() const { return window_; }
  // A tenth of the window: a line through points a few milliseconds apart
  // says nothing about a leak.
  clock::duration min_span() const { return window_ / 10; }
  std::size_t tracked_processes() const { return series_.size(); }

private:
  struct point {
    clock::time_point at;
    double rss_bytes = 0;
  };
  using series = std::deque<point>;

  bool enough(const series& s) const;
  static double slope(const series& s);
  void trim(series& s, clock::time_point now) const;

  clock::duration window_;
  std::map<process_key, series> series_;
  std::deque<clock::time_point> scans_;  // times of the scans inside the window
};

}  // namespace vitals
