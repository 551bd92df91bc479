#pragma once

// What a log probe has counted since it started: lines, bytes, matches per
// pattern, the last matching lines, and the group_by values of the current
// window. Pure: lines come in with their time, nothing is read here, so it
// is tested without files. Belongs to the one pool job reading at a time;
// its summary is a plain copy handed to the loop.

#include "probes/log/json_fields.hpp"
#include "probes/log/log_patterns.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

using wall_clock = std::chrono::system_clock;

// Where a line came from: the file (or "journal", or the container), and
// when it was logged when the source says so (journal, Docker), else when
// it was read.
struct line_origin {
  std::string_view source;
  wall_clock::time_point at;
};

// A matching line kept as evidence: cut to max_line_bytes, raw bytes (the
// report makes them printable and redacts them).
struct kept_line {
  std::string text;
  std::string source;
  wall_clock::time_point at;
  bool cut = false;
};

struct pattern_summary {
  std::string name;
  std::string group_by;
  std::uint64_t matches = 0;
  std::optional<wall_clock::time_point> last_match;
  std::vector<kept_line> recent;  // newest first
  std::uint64_t window_matches = 0;
  std::vector<std::pair<std::string, std::uint64_t>> top_groups;  // most frequent first
  std::uint64_t other_groups = 0;                                 // matches whose value did not fit in the tally
};

struct tally_summary {
  std::uint64_t window_lines = 0;  // since start_window()
  std::uint64_t window_bytes = 0;
  std::uint64_t lines = 0;
  std::uint64_t read_bytes = 0;
  std::uint64_t skipped_bytes = 0;
  std::uint64_t long_lines = 0;
  std::vector<pattern_summary> patterns;
};

class log_tally {
 public:
  static constexpr std::size_t recent_lines = 5;
  static constexpr std::size_t max_line_bytes = 512;
  static constexpr std::size_t top_groups = 5;
  static constexpr std::size_t max_group_values = 1000;  // distinct values tallied per window

  explicit log_tally(std::shared_ptr<const log_pattern_set> patterns);

  // One line (its first max_line bytes when `cut`).
  void line(std::string_view text, bool cut, const line_origin& origin);
  void read(std::uint64_t bytes) {
    read_bytes_ += bytes;
    window_bytes_ += bytes;
  }
  void skipped(std::uint64_t bytes) { skipped_bytes_ += bytes; }

  // A new window begins: group_by values are tallied afresh.
  void start_window();
  tally_summary summary() const;

 private:
  struct pattern_state {
    std::uint64_t matches = 0;
    std::optional<wall_clock::time_point> last_match;
    kept_line recent[recent_lines];
    std::size_t next = 0;  // where the next kept line goes
    std::size_t kept = 0;
    std::uint64_t window_matches = 0;
    std::map<std::string, std::uint64_t, std::less<>> groups;
    std::uint64_t other_groups = 0;
  };

  void keep(pattern_state& p, std::string_view text, bool cut, const line_origin& origin);

  std::shared_ptr<const log_pattern_set> patterns_;
  std::vector<pattern_state> states_;
  json_line json_;
  std::string group_;
  std::uint64_t window_lines_ = 0;
  std::uint64_t window_bytes_ = 0;
  std::uint64_t lines_ = 0;
  std::uint64_t read_bytes_ = 0;
  std::uint64_t skipped_bytes_ = 0;
  std::uint64_t long_lines_ = 0;
};

}  // namespace vitals
