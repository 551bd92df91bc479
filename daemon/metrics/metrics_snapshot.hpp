#pragma once

// What /metrics shows at one instant, frozen so that any thread can read
// it: the scrape serialises it on the pool and the alert engine selects its
// series from it, while the loop goes on recording runs. Both read it
// through one walk, so a rule sees exactly the samples a scrape shows.

#include "probes/core/probe.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace prometheus {
struct MetricFamily;
}

namespace vitals {

class probe_registry;

// Upper bounds of vitals_probe_duration_seconds's buckets (+Inf not included).
inline constexpr std::array<double, 13> probe_duration_buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                               0.25,  0.5,    1,     2.5,  5,     10};

// Everything /metrics shows about one probe. Plain numbers, no per-series
// objects: a scrape of 10,000 probes is a walk over these. Written on the
// loop; once a snapshot shares one it is never changed again (the loop
// writes to a copy instead).
struct probe_series {
  std::string name;
  std::string kind;
  bool has_result = false;  // success/up/last_run appear with the first result
  bool success = false;
  bool up = false;
  std::string reason;  // the last run's, when it failed
  double last_run = 0;
  std::array<std::uint64_t, probe_duration_buckets.size() + 1> buckets{};  // per bucket, last is +Inf
  double duration_sum = 0;
  std::uint64_t duration_count = 0;
  std::uint64_t ok = 0, fail = 0, timeout = 0, skipped = 0;
  // The kind-specific samples of the last run, each declared by its kind,
  // held flat: three allocations a probe however many labels its samples
  // carry (a sample with std::map labels costs one per label and most of a
  // kilobyte for a port probe's three).
  struct flat_sample {
    double value = 0;
    std::uint32_t labels_end = 0;  // its labels are [previous sample's labels_end, labels_end)
    std::uint16_t family = 0;      // position in kind_families::list
  };
  std::vector<flat_sample> samples;
  std::string label_text;             // every label's name and value, one after the other
  std::vector<std::uint32_t> label_at;  // label i: name [2i, 2i+1), value [2i+1, 2i+2) as offsets into label_text

  // Replaces the samples with `from`'s that `family_of` files (the others
  // are left out). Keeps the buffers' room, so a run like the last one
  // allocates nothing (unless a snapshot shared the series, and this is its
  // copy).
  template <class FamilyOf>
  void set_samples(const std::vector<sample>& from, FamilyOf family_of) {
    samples.clear();
    label_text.clear();
    label_at.assign(1, 0);
    for (const auto& s : from) {
      const auto family = family_of(s.name);
      if (!family) continue;
      for (const auto& [k, v] : s.labels) {
        label_text += k;
        label_at.push_back(static_cast<std::uint32_t>(label_text.size()));
        label_text += v;
        label_at.push_back(static_cast<std::uint32_t>(label_text.size()));
      }
      samples.push_back({s.value, static_cast<std::uint32_t>(label_at.size() / 2), *family});
    }
  }
  std::string_view label_name(std::size_t i) const {
    return std::string_view(label_text).substr(label_at[2 * i], label_at[2 * i + 1] - label_at[2 * i]);
  }
  std::string_view label_value(std::size_t i) const {
    return std::string_view(label_text).substr(label_at[2 * i + 1], label_at[2 * i + 2] - label_at[2 * i + 1]);
  }
};

// The probe kinds' own families in exposition order; fixed once the kinds
// are registered, so snapshots share one.
struct kind_families {
  explicit kind_families(const probe_registry& registry);
  std::vector<metric_info> list;
  std::unordered_map<std::string_view, std::size_t> index;  // name -> position in list
};

using label_view = std::pair<std::string_view, std::string_view>;

// One sample as metrics_snapshot::visit hands it out. The views are valid
// during the call only.
struct sample_view {
  std::string_view name;
  std::span<const label_view> labels;  // without the metric name, in exposition order
  double value = 0;
};

// Metric names a visit wants; empty means every one.
using metric_name_set = std::set<std::string, std::less<>>;

class metrics_snapshot {
public:
  metrics_snapshot(std::vector<std::shared_ptr<const probe_series>> probes, std::shared_ptr<const kind_families> kinds,
                   std::vector<prometheus::MetricFamily> own);
  ~metrics_snapshot();
  metrics_snapshot(const metrics_snapshot&) = delete;
  metrics_snapshot& operator=(const metrics_snapshot&) = delete;

  // The Prometheus text exposition format 0.0.4, handed to `sink` in pieces
  // of about `piece` bytes, so a large exposition can be compressed or sent
  // without ever being held whole.
  void write(const std::function<void(std::string_view)>& sink, std::size_t piece = 64 * 1024) const;

  // The whole exposition as one string.
  std::string text() const;

  // Calls `fn` for every sample whose metric name is in `names` (histograms
  // by their _bucket, _sum and _count names), in exposition order.
  void visit(const metric_name_set& names, const std::function<void(const sample_view&)>& fn) const;

  std::size_t probes() const { return probes_.size(); }

  // What the writer and the selection are both built on (in the .cpp).
  class walker;

private:
  void walk(walker& w) const;

  std::vector<std::shared_ptr<const probe_series>> probes_;  // by name
  std::shared_ptr<const kind_families> kinds_;
  std::vector<prometheus::MetricFamily> own_;  // the daemon's own series, from prometheus-cpp
};

}  // namespace vitals
