#include "daemon/metrics/metrics_snapshot.hpp"

#include "daemon/metrics/exposition.hpp"
#include "probes/core/probe_registry.hpp"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <algorithm>
#include <initializer_list>
#include <memory>

namespace vitals {

kind_families::kind_families(const probe_registry& registry) {
  for (const auto& kind : registry.kinds())
    for (const auto& m : kind.metrics)
      if (index.emplace(m.name, list.size()).second) list.push_back(m);
}

// What a walk over the snapshot is handed: each family's header, then its
// samples. The exposition writer and the alert engine's selection are the
// two walkers, so they cannot disagree about what a sample is.
class metrics_snapshot::walker {
public:
  virtual ~walker() = default;
  // A family begins; false skips its samples. `sample_names` are the names
  // its samples carry (a histogram's _bucket, _sum and _count).
  virtual bool family(std::string_view name, std::string_view help, std::string_view type,
                      std::initializer_list<std::string_view> sample_names) = 0;
  virtual void sample(std::string_view name, std::span<const label_view> labels, double value) = 0;
};

namespace {

// The `le` label of each duration bucket, spelled once.
const std::array<std::string, probe_duration_buckets.size() + 1>& bucket_bounds() {
  static const auto bounds = [] {
    std::array<std::string, probe_duration_buckets.size() + 1> out;
    for (std::size_t i = 0; i < probe_duration_buckets.size(); ++i)
      exposition::append_value(out[i], probe_duration_buckets[i]);
    out.back() = "+Inf";
    return out;
  }();
  return bounds;
}

std::string_view type_name(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter: return "counter";
    case prometheus::MetricType::Gauge: return "gauge";
    case prometheus::MetricType::Summary: return "summary";
    case prometheus::MetricType::Histogram: return "histogram";
    case prometheus::MetricType::Untyped: break;
  }
  return "untyped";
}

using walker = metrics_snapshot::walker;
using series_list = std::vector<std::shared_ptr<const probe_series>>;

// A per-probe gauge: one sample for each probe that has run.
template <class Value>
void probe_gauge(walker& w, const series_list& probes, std::string_view name, std::string_view help, Value value) {
  if (!w.family(name, help, "gauge", {name})) return;
  for (const auto& p : probes) {
    if (!p->has_result) continue;
    const std::array<label_view, 2> labels{{{"kind", p->kind}, {"probe", p->name}}};
    w.sample(name, labels, value(*p));
  }
}

void walk_run_results(walker& w, const series_list& probes) {
  probe_gauge(w, probes, "vitals_probe_success", "Whether the probe's last run succeeded (1) or failed (0)",
              [](const probe_series& p) { return p.success ? 1.0 : 0.0; });
  probe_gauge(w, probes, "vitals_probe_up", "Probe state after failure and success thresholds: 1 up, 0 down",
              [](const probe_series& p) { return p.up ? 1.0 : 0.0; });

  constexpr std::string_view failure = "vitals_probe_failure_info";
  if (w.family(failure,
               "Always 1 while the probe's last run failed; reason names the cause (refused, timeout, locked, ...)",
               "gauge", {failure})) {
    for (const auto& p : probes) {
      if (!p->has_result || p->success) continue;
      const std::array<label_view, 3> labels{{{"kind", p->kind}, {"probe", p->name}, {"reason", p->reason}}};
      w.sample(failure, labels, 1);
    }
  }
  probe_gauge(w, probes, "vitals_probe_last_run_timestamp_seconds", "Unix time at which the probe's last run finished",
              [](const probe_series& p) { return p.last_run; });

  constexpr std::string_view runs = "vitals_probe_runs_total";
  if (w.family(runs, "Probe runs by result: ok, fail, timeout, or skipped (previous run still in flight)", "counter",
               {runs})) {
    for (const auto& p : probes) {
      for (const auto& [result, count] : {std::pair{"ok", p->ok}, std::pair{"fail", p->fail},
                                          std::pair{"timeout", p->timeout}, std::pair{"skipped", p->skipped}}) {
        const std::array<label_view, 3> labels{{{"kind", p->kind}, {"probe", p->name}, {"result", result}}};
        w.sample(runs, labels, static_cast<double>(count));
      }
    }
  }
}

void walk_durations(walker& w, const series_list& probes) {
  constexpr std::string_view bucket = "vitals_probe_duration_seconds_bucket";
  constexpr std::string_view sum = "vitals_probe_duration_seconds_sum";
  constexpr std::string_view count = "vitals_probe_duration_seconds_count";
  if (!w.family("vitals_probe_duration_seconds", "Duration of probe runs, measured by the scheduler", "histogram",
                {bucket, sum, count}))
    return;
  const auto& bounds = bucket_bounds();
  for (const auto& p : probes) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < p->buckets.size(); ++i) {
      cumulative += p->buckets[i];
      const std::array<label_view, 3> labels{{{"kind", p->kind}, {"probe", p->name}, {"le", bounds[i]}}};
      w.sample(bucket, labels, static_cast<double>(cumulative));
    }
    const std::array<label_view, 2> labels{{{"kind", p->kind}, {"probe", p->name}}};
    w.sample(sum, labels, p->duration_sum);
    w.sample(count, labels, static_cast<double>(p->duration_count));
  }
}

void walk_kind_samples(walker& w, const series_list& probes, const kind_families& kinds) {
  // Grouped by family first, as the format wants each family's lines
  // together: a counting sort on the family each sample was filed under
  // when it was recorded, so a walk looks no name up.
  std::vector<std::size_t> starts(kinds.list.size() + 1, 0);
  for (const auto& p : probes)
    for (const auto& s : p->samples) ++starts[s.family + 1];
  for (std::size_t f = 1; f < starts.size(); ++f) starts[f] += starts[f - 1];
  struct placed {
    const probe_series* probe;
    std::uint32_t labels_begin, labels_end;
    double value;
  };
  std::vector<placed> ordered(starts.back());
  {
    auto next = starts;
    for (const auto& p : probes) {
      std::uint32_t begin = 0;
      for (const auto& s : p->samples) {
        ordered[next[s.family]++] = {p.get(), begin, s.labels_end, s.value};
        begin = s.labels_end;
      }
    }
  }
  std::vector<label_view> labels;
  for (std::size_t f = 0; f < kinds.list.size(); ++f) {
    const auto& info = kinds.list[f];
    if (starts[f] == starts[f + 1] ||
        !w.family(info.name, info.help, info.kind == metric_kind::counter ? "counter" : "gauge", {info.name}))
      continue;
    for (std::size_t i = starts[f]; i < starts[f + 1]; ++i) {
      const auto& s = ordered[i];
      labels.clear();
      labels.emplace_back("probe", s.probe->name);
      for (auto l = s.labels_begin; l < s.labels_end; ++l)
        labels.emplace_back(s.probe->label_name(l), s.probe->label_value(l));
      w.sample(info.name, labels, s.value);
    }
  }
}

// The daemon's own series, as prometheus-cpp collected them.
void walk_own(walker& w, const std::vector<prometheus::MetricFamily>& families) {
  std::vector<label_view> labels;
  std::string bucket, sum, count;
  for (const auto& f : families) {
    bucket = f.name + "_bucket";
    sum = f.name + "_sum";
    count = f.name + "_count";
    const bool histogram = f.type == prometheus::MetricType::Histogram;
    const bool summary = f.type == prometheus::MetricType::Summary;
    const bool wanted = histogram ? w.family(f.name, f.help, "histogram", {bucket, sum, count})
                        : summary ? w.family(f.name, f.help, "summary", {f.name, sum, count})
                                  : w.family(f.name, f.help, type_name(f.type), {f.name});
    if (!wanted) continue;
    for (const auto& m : f.metric) {
      labels.clear();
      for (const auto& l : m.label) labels.emplace_back(l.name, l.value);
      const auto base = labels.size();
      std::string bound;
      if (histogram) {
        for (const auto& b : m.histogram.bucket) {
          bound.clear();
          exposition::append_value(bound, b.upper_bound);
          labels.resize(base);
          labels.emplace_back("le", bound);
          w.sample(bucket, labels, static_cast<double>(b.cumulative_count));
        }
        labels.resize(base);
        w.sample(sum, labels, m.histogram.sample_sum);
        w.sample(count, labels, static_cast<double>(m.histogram.sample_count));
      } else if (summary) {
        for (const auto& q : m.summary.quantile) {
          bound.clear();
          exposition::append_value(bound, q.quantile);
          labels.resize(base);
          labels.emplace_back("quantile", bound);
          w.sample(f.name, labels, q.value);
        }
        labels.resize(base);
        w.sample(sum, labels, m.summary.sample_sum);
        w.sample(count, labels, static_cast<double>(m.summary.sample_count));
      } else {
        const double value = f.type == prometheus::MetricType::Counter ? m.counter.value
                             : f.type == prometheus::MetricType::Gauge ? m.gauge.value
                                                                       : m.untyped.value;
        w.sample(f.name, labels, value);
      }
    }
  }
}

// Writes each line straight into a buffer of a piece and some room to
// spare, sized once per line from its longest possible form: a scrape of
// 10,000 probes is 260,000 lines, and appending each bit to a std::string
// (a size check and a call for every name, brace and quote) was most of
// the time spent writing them.
class text_walker final : public walker {
public:
  text_walker(const std::function<void(std::string_view)>& sink, std::size_t piece)
      : sink_(sink), piece_(piece), buf_(new char[piece + spare]) {}
  bool family(std::string_view name, std::string_view help, std::string_view type,
              std::initializer_list<std::string_view>) override {
    header_.clear();
    exposition::append_header(header_, name, help, type);
    put(header_);
    return true;
  }
  void sample(std::string_view name, std::span<const label_view> labels, double value) override {
    std::size_t longest = name.size() + 4 + exposition::max_value_size;  // { } ' ' value '\n'
    for (const auto& [k, v] : labels) longest += k.size() + 4 + exposition::max_label_value_size(v.size());
    if (longest > spare) {  // a line longer than the room kept for one: written on its own
      line_.clear();
      line_ += name;
      if (!labels.empty()) {
        line_ += '{';
        for (std::size_t i = 0; i < labels.size(); ++i)
          exposition::append_label(line_, labels[i].first, labels[i].second, i == 0);
        line_ += '}';
      }
      line_ += ' ';
      exposition::append_value(line_, value);
      line_ += '\n';
      put(line_);
      return;
    }
    char* p = buf_.get() + used_;
    p = std::copy(name.begin(), name.end(), p);
    if (!labels.empty()) {
      *p++ = '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) *p++ = ',';
        p = std::copy(labels[i].first.begin(), labels[i].first.end(), p);
        *p++ = '=';
        *p++ = '"';
        p = exposition::write_label_value(p, labels[i].second);
        *p++ = '"';
      }
      *p++ = '}';
    }
    *p++ = ' ';
    p = exposition::write_value(p, value);
    *p++ = '\n';
    used_ = static_cast<std::size_t>(p - buf_.get());
    if (used_ >= piece_) flush();
  }
  void flush() {
    if (used_ == 0) return;
    sink_(std::string_view(buf_.get(), used_));
    used_ = 0;
  }

private:
  static constexpr std::size_t spare = 4096;  // room past a piece: no line of a probe comes near it

  // Text written whole (headers, over-long lines), through the buffer.
  void put(std::string_view text) {
    if (used_ + text.size() > piece_ + spare) {
      flush();
      if (text.size() > piece_ + spare) {
        sink_(text);
        return;
      }
    }
    std::copy(text.begin(), text.end(), buf_.get() + used_);
    used_ += text.size();
    if (used_ >= piece_) flush();
  }

  const std::function<void(std::string_view)>& sink_;
  std::size_t piece_;
  std::unique_ptr<char[]> buf_;
  std::size_t used_ = 0;  // never more than piece_ between lines
  std::string header_, line_;
};

class select_walker final : public walker {
public:
  select_walker(const metric_name_set& names, const std::function<void(const sample_view&)>& fn)
      : names_(names), fn_(fn) {}
  bool family(std::string_view, std::string_view, std::string_view,
              std::initializer_list<std::string_view> sample_names) override {
    if (names_.empty()) return true;
    for (const auto n : sample_names)
      if (names_.contains(n)) return true;
    return false;
  }
  void sample(std::string_view name, std::span<const label_view> labels, double value) override {
    if (names_.empty() || names_.contains(name)) fn_(sample_view{name, labels, value});
  }

private:
  const metric_name_set& names_;
  const std::function<void(const sample_view&)>& fn_;
};

}  // namespace

metrics_snapshot::metrics_snapshot(std::vector<std::shared_ptr<const probe_series>> probes,
                                   std::shared_ptr<const kind_families> kinds,
                                   std::vector<prometheus::MetricFamily> own)
    : probes_(std::move(probes)), kinds_(std::move(kinds)), own_(std::move(own)) {}

metrics_snapshot::~metrics_snapshot() = default;

void metrics_snapshot::walk(walker& w) const {
  walk_run_results(w, probes_);
  walk_durations(w, probes_);
  walk_kind_samples(w, probes_, *kinds_);
  walk_own(w, own_);
}

void metrics_snapshot::write(const std::function<void(std::string_view)>& sink, std::size_t piece) const {
  text_walker w(sink, piece);
  walk(w);
  w.flush();
}

std::string metrics_snapshot::text() const {
  std::string out;
  out.reserve(4096 + probes_.size() * 2600);  // about what one port probe takes
  write([&out](std::string_view piece) { out += piece; });
  return out;
}

void metrics_snapshot::visit(const metric_name_set& names, const std::function<void(const sample_view&)>& fn) const {
  select_walker w(names, fn);
  walk(w);
}

}  // namespace vitals
