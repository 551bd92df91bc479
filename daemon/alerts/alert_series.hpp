#pragma once

// What rule expressions are evaluated over: the samples /metrics shows now
// (a series_table, built for one evaluation) and the earlier samples that
// range selectors and offsets read (a history, kept between evaluations,
// only for the series those selectors match and only as far back as they
// reach).

#include "probes/core/user_regex.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace vitals::alerts {

inline constexpr std::string_view metric_name_label = "__name__";

struct label {
  std::string_view name;
  std::string_view value;
  friend bool operator==(const label&, const label&) = default;
};

// A series' labels sorted by name, the metric name among them as
// "__name__", as Prometheus holds them. The views point into a
// series_table, a history or a parsed expression, whichever produced them.
using label_set = std::vector<label>;

// Prometheus's order of label sets (labels.Compare): <0, 0, >0.
int compare(const label_set& a, const label_set& b);
// The value of label `name`, "" when it is absent (as in PromQL).
std::string_view value_of(const label_set& l, std::string_view name);
// `l` as one string, equal for equal label sets: a map key.
std::string key_of(const label_set& l);

struct sample {
  label_set labels;
  double value = 0;
};

struct point {
  std::int64_t t = 0;  // milliseconds
  double v = 0;
};

// Each distinct string once, at a stable address.
class string_pool {
public:
  std::string_view intern(std::string_view s);
  std::size_t size() const { return strings_.size(); }

private:
  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_set<std::string, hash, std::equal_to<>> strings_;
};

// The current samples, by metric name.
class series_table {
public:
  void add(std::string_view name, std::span<const std::pair<std::string_view, std::string_view>> labels, double value);
  void add(std::string_view name, const std::map<std::string, std::string>& labels, double value);
  std::span<const sample> named(std::string_view name) const;
  std::size_t size() const { return samples_; }

private:
  string_pool strings_;
  std::unordered_map<std::string_view, std::vector<sample>> by_name_;
  std::size_t samples_ = 0;
};

// A label matcher, matched as PromQL matches: an absent label is "".
struct matcher {
  enum class op { eq, ne, re, nre } kind = op::eq;
  std::string label;
  std::string value;
  std::optional<user_regex> regex;  // anchored, as in PromQL

  bool matches(std::string_view v) const;
  std::string text() const;
};

// A metric name and label matchers: what a selector picks.
struct selector_spec {
  std::string name;
  std::vector<matcher> matchers;

  bool matches(const label_set& l) const;  // the name is checked by the caller
};

// A selector whose past an expression reads, and how far back from the
// evaluation time: range plus offset, or offset plus the lookback.
struct history_need {
  const selector_spec* selector = nullptr;
  std::int64_t reach_ms = 0;
};

// alerts.max_history_series by default: 1,000 probes' worth of a few
// range selectors each.
inline constexpr std::size_t default_max_history_series = 5000;
// alerts.max_history_samples by default: 16 MiB of values.
inline constexpr std::size_t default_max_history_samples = 2'000'000;

// Prometheus's lookback for instant selectors (--query.lookback-delta).
inline constexpr std::int64_t lookback_ms = 5 * 60 * 1000;

// The samples range selectors and offsets read, one per evaluation for
// each series a needed selector matches (a stale marker when the series is
// absent from that evaluation, as Prometheus marks a series that left a
// scrape). Bounded by `max_series` and `max_samples`: a series that would
// go beyond either (counting the samples its window will hold) is not
// kept, and the selectors that would have read it are marked truncated()
// until a record() keeps all they match again. Not thread-safe; one evaluation at a
// time uses it.
class history {
public:
  history(std::size_t max_series, std::size_t max_samples) : max_series_(max_series), max_samples_(max_samples) {}

  // What to keep from the next record() on: the series these selectors
  // match, as far back as the farthest reach plus `slack_ms` (one
  // evaluation interval). The selectors must outlive the next record() and
  // the reads after it.
  void require(std::vector<history_need> needs, std::int64_t slack_ms);

  // Records the samples of `now` at `at_ms`; calls come in time order.
  void record(const series_table& now, std::int64_t at_ms);

  // For each kept series `sel` matches: its samples in [from_ms, to_ms],
  // oldest first, stale markers left out (possibly none).
  void range(const selector_spec& sel, std::int64_t from_ms, std::int64_t to_ms,
             const std::function<void(const label_set&, std::span<const point>)>& fn) const;

  // For each kept series `sel` matches: its value at `at_ms`, the latest
  // sample no older than the lookback, unless that is a stale marker.
  void at(const selector_spec& sel, std::int64_t at_ms,
          const std::function<void(const label_set&, double)>& fn) const;

  // Whether the last record() left out a series `sel` matches (the cap).
  bool truncated(const selector_spec* sel) const { return truncated_.contains(sel); }

  std::size_t series() const { return kept_count_; }
  std::size_t samples() const { return sample_count_; }
  std::size_t max_series() const { return max_series_; }
  std::size_t max_samples() const { return max_samples_; }
  // Series left out by the cap at the last record().
  std::size_t dropped() const { return dropped_; }

private:
  struct kept {
    std::string storage;  // the label strings, which `labels` views
    label_set labels;
    std::deque<double> values;  // the last values.size() evaluations, the newest last
    std::uint64_t last_seen = 0;  // the record() that last had it
    std::int64_t reach_ms = 0;    // the farthest reach of the needs that matched it last
    std::size_t reserved = 0;     // samples its window holds when full, counted against max_samples
  };
  // The index in times_ of the latest evaluation at or before `t`; -1: none.
  std::ptrdiff_t index_at(std::int64_t t) const;
  template <typename Fn>
  void each_match(const selector_spec& sel, Fn&& fn) const;

  std::size_t max_series_;
  std::size_t max_samples_;
  std::size_t sample_count_ = 0;
  std::size_t reserved_ = 0;  // the full windows of the series kept
  std::vector<history_need> needs_;
  std::int64_t keep_ms_ = 0;
  std::int64_t slack_ms_ = 0;
  bool needs_changed_ = false;
  std::deque<std::int64_t> times_;  // evaluation times kept, oldest first
  std::uint64_t seq_ = 0;           // record() calls so far
  // metric name -> label key -> series
  std::map<std::string, std::map<std::string, std::unique_ptr<kept>>, std::less<>> kept_;
  std::size_t kept_count_ = 0;
  std::set<const selector_spec*> truncated_;
  std::size_t dropped_ = 0;
};

}  // namespace vitals::alerts
