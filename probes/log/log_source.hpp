#pragma once

// What every log source (a file or glob, the journal, a container's log)
// shares: one run's reading pass, and the interface the reader drives.
// Sources do blocking I/O and run on the pool, one pass at a time.

#include "probes/core/probe.hpp"
#include "probes/log/log_tally.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

// Why a source cannot be read: reason missing | permission | rotated_away |
// not_a_file | error, and one line naming the cause.
struct source_problem {
  std::string reason;
  std::string error;
};

// One run's reading: what it may still spend, where lines go, and what it
// found wrong. Owned by the pass on the pool thread.
struct read_pass {
  static constexpr std::size_t max_notes = 8;

  log_tally& tally;
  std::uint64_t budget;                              // bytes this pass may still read
  const std::atomic<bool>& stop;                     // the run was cancelled
  std::chrono::steady_clock::time_point give_up_at;  // stop reading (not skipping) here
  wall_clock::time_point now;                        // when lines without their own time were read
  bool first = false;                                // the probe's first pass: sources found now start at their end...
  bool from_beginning = false;                       // ...unless `from: beginning` says otherwise
  std::optional<source_problem> problem;             // the first one found
  evidence_list notes;                               // rotations followed, copies read, bytes skipped

  // True once the pass must end: cancelled, or out of its time.
  bool should_stop() const {
    return stop.load(std::memory_order_relaxed) || std::chrono::steady_clock::now() >= give_up_at;
  }
  // Whether a source seen now for the first time starts at its end.
  bool start_at_end() const { return first && !from_beginning; }
  void fail(std::string reason, std::string error) {
    if (!problem) problem = source_problem{std::move(reason), std::move(error)};
  }
  // Evidence keys must be unique (the JSON view is an object): a second
  // "rotated" becomes "rotated 2".
  void note(std::string key, std::string text) {
    if (notes.size() >= max_notes) return;
    std::size_t same = 0;
    for (const auto& [k, v] : notes) same += k == key || k.starts_with(key + " ") ? 1 : 0;
    if (same > 0) key += " " + std::to_string(same + 1);
    notes.emplace_back(std::move(key), std::move(text));
  }
};

class log_source {
 public:
  virtual ~log_source() = default;
  // Reads what is new since the last pass, within the pass's budget.
  virtual void read(read_pass& pass) = 0;
  // Files followed now (a container's log counts as one).
  virtual std::size_t followed() const = 0;
  // What is followed, for evidence: "3 files matching /srv/app/*.log".
  virtual std::string following() const = 0;
};

}  // namespace vitals
