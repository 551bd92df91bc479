#include "daemon/metrics.hpp"

#include "daemon/self_metrics.hpp"
#include "daemon/version.hpp"
#include "probes/probe_registry.hpp"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <unordered_map>


namespace vitals {

namespace {

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The kind-specific series of each probe's last run. Built at scrape time
// from the stored samples, so a series a run no longer produces (an owner
// that went away) disappears by itself, and counters read from the target
// (evicted keys) are exported as the target reports them.
class sample_collector final : public prometheus::Collectable {
public:
  explicit sample_collector(const probe_registry& registry) {
    for (const auto& kind : registry.kinds())
      for (const auto& m : kind.metrics) infos_.emplace(std::string(m.name), m);
  }

  void set(const std::string& probe, std::vector<sample> samples) { latest_[probe] = std::move(samples); }
  void erase(const std::string& probe) { latest_.erase(probe); }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::map<std::string_view, prometheus::MetricFamily> families;
    for (const auto& [probe, samples] : latest_) {
      for (const auto& s : samples) {
        auto info = infos_.find(s.name);
        if (info == infos_.end()) continue;  // not declared by its kind: a probe bug, never exported
        auto& family = families[info->second.name];
        if (family.name.empty()) {
          family.name = std::string(info->second.name);
          family.help = std::string(info->second.help);
          family.type = info->second.kind == metric_kind::counter ? prometheus::MetricType::Counter
                                                                  : prometheus::MetricType::Gauge;
        }
        prometheus::ClientMetric metric;
        metric.label.push_back({"probe", probe});
        for (const auto& [k, v] : s.labels) metric.label.push_back({k, v});
        if (family.type == prometheus::MetricType::Counter) metric.counter.value = s.value;
        else metric.gauge.value = s.value;
        family.metric.push_back(std::move(metric));
      }
    }
    std::vector<prometheus::MetricFamily> out;
    out.reserve(families.size());
    for (auto& [name, family] : families) out.push_back(std::move(family));
    return out;
  }

private:
  std::unordered_map<std::string, metric_info> infos_;
  std::map<std::string, std::vector<sample>> latest_;
};

const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                         0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}

const prometheus::Histogram::BucketBoundaries& lag_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                         0.05,   0.1,   0.25,   0.5,   1};
  return b;
}

}  // namespace

struct metrics::impl {
  explicit impl(const probe_registry& registry)
      : registry_(std::make_shared<prometheus::Registry>()),
        success_(prometheus::BuildGauge()
                     .Name("vitals_probe_success")
                     .Help("Whether the probe's last run succeeded (1) or failed (0)")
                     .Register(*registry_)),
        up_(prometheus::BuildGauge()
                .Name("vitals_probe_up")
                .Help("Probe state after failure and success thresholds: 1 up, 0 down")
                .Register(*registry_)),
        duration_(prometheus::BuildHistogram()
                      .Name("vitals_probe_duration_seconds")
                      .Help("Duration of probe runs, measured by the scheduler")
                      .Register(*registry_)),
        runs_(prometheus::BuildCounter()
                  .Name("vitals_probe_runs_total")
                  .Help("Probe runs by result: ok, fail, timeout, or skipped (previous run still in flight)")
                  .Register(*registry_)),
        last_run_(prometheus::BuildGauge()
                      .Name("vitals_probe_last_run_timestamp_seconds")
                      .Help("Unix time at which the probe's last run finished")
                      .Register(*registry_)),
        build_info_(prometheus::BuildGauge()
                        .Name("vitals_build_info")
                        .Help("Always 1; labels carry the version and source revision of vitalsd")
                        .Register(*registry_)),
        reload_ok_(prometheus::BuildGauge()
                       .Name("vitals_config_last_reload_successful")
                       .Help("Whether the last configuration load succeeded (1) or was rejected (0)")
                       .Register(*registry_)
                       .Add({})),
        reload_time_(prometheus::BuildGauge()
                         .Name("vitals_config_last_reload_success_timestamp_seconds")
                         .Help("Unix time of the last successful configuration load")
                         .Register(*registry_)
                         .Add({})),
        lag_(prometheus::BuildHistogram()
                 .Name("vitals_scheduler_lag_seconds")
                 .Help("How late probe timers fired relative to their due time")
                 .Register(*registry_)
                 .Add({}, lag_buckets())),
        samples_(registry) {
    build_info_.Add({{"version", std::string(version())}, {"revision", std::string(revision())}}).Set(1);
  }

  struct probe_series {
    prometheus::Labels labels;
    prometheus::Histogram* duration = nullptr;
    prometheus::Counter* ok = nullptr;
    prometheus::Counter* fail = nullptr;
    prometheus::Counter* timeout = nullptr;
    prometheus::Counter* skipped = nullptr;
    // Created at the first result: exporting 0 before any run would claim a failure.
    prometheus::Gauge* success = nullptr;
    prometheus::Gauge* up = nullptr;
    prometheus::Gauge* last_run = nullptr;
  };

  probe_series* find(const std::string& name) {
    auto it = probes_.find(name);
    return it == probes_.end() ? nullptr : &it->second;
  }

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& success_;
  prometheus::Family<prometheus::Gauge>& up_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& runs_;
  prometheus::Family<prometheus::Gauge>& last_run_;
  prometheus::Family<prometheus::Gauge>& build_info_;
  prometheus::Gauge& reload_ok_;
  prometheus::Gauge& reload_time_;
  prometheus::Histogram& lag_;
  sample_collector samples_;
  self_metrics self_;
  std::unordered_map<std::string, probe_series> probes_;
};

metrics::metrics(const probe_registry& registry) : impl_(std::make_unique<impl>(registry)) {}
metrics::~metrics() = default;

void metrics::probe_added(const probe_settings& s) {
  auto& m = *impl_;
  if (m.find(s.name)) probe_removed(s);
  impl::probe_series p;
  p.labels = {{"probe", s.name}, {"kind", s.type}};
  p.duration = &m.duration_.Add(p.labels, duration_buckets());
  auto with_result = [&](const char* result) {
    auto labels = p.labels;
    labels.emplace("result", result);
    return &m.runs_.Add(labels);
  };
  p.ok = with_result("ok");
  p.fail = with_result("fail");
  p.timeout = with_result("timeout");
  p.skipped = with_result("skipped");
  m.probes_.emplace(s.name, std::move(p));
}

void metrics::probe_removed(const probe_settings& s) {
  auto& m = *impl_;
  auto it = m.probes_.find(s.name);
  if (it == m.probes_.end()) return;
  auto& p = it->second;
  m.duration_.Remove(p.duration);
  for (auto* c : {p.ok, p.fail, p.timeout, p.skipped}) m.runs_.Remove(c);
  if (p.success) m.success_.Remove(p.success);
  if (p.up) m.up_.Remove(p.up);
  if (p.last_run) m.last_run_.Remove(p.last_run);
  m.samples_.erase(s.name);
  m.probes_.erase(it);
}

void metrics::run_finished(const probe_settings& s, const run_outcome& out, std::optional<bool> up) {
  auto& m = *impl_;
  auto* p = m.find(s.name);
  if (!p) return;
  if (!p->success) {
    p->success = &m.success_.Add(p->labels);
    p->up = &m.up_.Add(p->labels);
    p->last_run = &m.last_run_.Add(p->labels);
  }
  p->success->Set(out.result.ok ? 1 : 0);
  p->up->Set(up.value_or(out.result.ok) ? 1 : 0);
  p->last_run->Set(unix_seconds(out.finished_at));
  p->duration->Observe(out.duration_seconds);
  (out.timed_out ? p->timeout : out.result.ok ? p->ok : p->fail)->Increment();
  m.samples_.set(s.name, out.result.samples);
}

void metrics::run_skipped(const probe_settings& s) {
  if (auto* p = impl_->find(s.name)) p->skipped->Increment();
}

void metrics::scheduler_lag(double seconds) { impl_->lag_.Observe(seconds < 0 ? 0 : seconds); }

void metrics::config_loaded(bool ok) {
  impl_->reload_ok_.Set(ok ? 1 : 0);
  if (ok) impl_->reload_time_.Set(unix_seconds(std::chrono::system_clock::now()));
}

std::string metrics::serialize() const {
  auto families = impl_->registry_->Collect();
  for (auto* c : std::initializer_list<const prometheus::Collectable*>{&impl_->samples_, &impl_->self_}) {
    auto more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace vitals
