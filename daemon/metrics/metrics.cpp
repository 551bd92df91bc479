#include "daemon/metrics/metrics.hpp"

#include "daemon/metrics/exposition.hpp"
#include "daemon/metrics/self_metrics.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/version.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <spdlog/spdlog.h>

#include <array>
#include <cassert>
#include <chrono>
#include <map>
#include <set>
#include <unordered_map>

namespace vitals {

namespace {

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

constexpr std::array<double, 13> duration_buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                   0.25,  0.5,    1,     2.5,  5,     10};

// Everything /metrics shows about one probe. Plain numbers on the loop
// thread: no locks and no per-series objects, so a scrape of 10,000 probes
// is a walk over this map (prometheus-cpp's Collect + TextSerializer cost
// four times as much, and its per-series objects most of the memory).
struct probe_series {
  std::string kind;
  bool has_result = false;  // success/up/last_run appear with the first result
  bool success = false;
  bool up = false;
  std::string reason;  // the last run's, when it failed
  double last_run = 0;
  std::array<std::uint64_t, duration_buckets.size() + 1> buckets{};  // per bucket, last is +Inf
  double duration_sum = 0;
  std::uint64_t duration_count = 0;
  std::uint64_t ok = 0, fail = 0, timeout = 0, skipped = 0;
  std::vector<sample> samples;  // the kind-specific series of the last run
};

}  // namespace

struct metrics::impl {
  explicit impl(const probe_registry& registry)
      : registry_(std::make_shared<prometheus::Registry>()),
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
        alerts_(prometheus::BuildGauge()
                     .Name("vitals_alerts")
                     .Help("Active alert instances by rule, severity and state (pending or firing)")
                     .Register(*registry_)),
        notifications_(prometheus::BuildCounter()
                           .Name("vitals_notifications_total")
                           .Help("Notification batches by receiver kind and result: ok, retry, rejected, failed, dropped")
                           .Register(*registry_)),
        queue_(prometheus::BuildGauge()
                   .Name("vitals_notification_queue_length")
                   .Help("Notification batches waiting to be sent, by receiver kind")
                   .Register(*registry_)),
        store_healthy_(prometheus::BuildGauge()
                           .Name("vitals_state_store_healthy")
                           .Help("1 while the state store is written; 0 while alerts and incidents are kept in "
                                 "memory only")
                           .Register(*registry_)
                           .Add({})),
        http_dropped_(prometheus::BuildCounter()
                          .Name("vitals_http_connections_dropped_total")
                          .Help("HTTP connections the server closed before their client did: evicted (idle or "
                                "incomplete, to admit a newer one), refused (at a limit, every connection being "
                                "answered), idle_timeout, request_timeout, tls_handshake")
                          .Register(*registry_)),
        http_refused_(prometheus::BuildCounter()
                          .Name("vitals_http_requests_refused_total")
                          .Help("HTTP requests refused before they were answered: missing_credentials and "
                                "wrong_credentials (401), auth_busy (503), rate_limited (429)")
                          .Register(*registry_)),
        web_config_ok_(prometheus::BuildGauge()
                           .Name("vitals_web_config_last_reload_successful")
                           .Help("1 when the web config (TLS, basic auth) last loaded, 0 when it failed and the "
                                 "previous one is still in use")
                           .Register(*registry_)
                           .Add({})),
        lag_(prometheus::BuildHistogram()
                 .Name("vitals_scheduler_lag_seconds")
                 .Help("How late probe timers fired relative to their due time")
                 .Register(*registry_)
                 .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                  0.1, 0.25, 0.5, 1})) {
    prometheus::BuildGauge()
        .Name("vitals_build_info")
        .Help("Always 1; labels carry the version and source revision of vitalsd")
        .Register(*registry_)
        .Add({{"version", std::string(version())}, {"revision", std::string(revision())}})
        .Set(1);
    // Every reason from the start: rate() needs the zero before the first drop.
    for (const auto* reason : {"evicted", "refused", "idle_timeout", "request_timeout", "tls_handshake"})
      http_dropped_.Add({{"reason", reason}});
    for (const auto* reason : {"missing_credentials", "wrong_credentials", "auth_busy", "rate_limited"})
      http_refused_.Add({{"reason", reason}});
    web_config_ok_.Set(1);
    for (const auto& kind : registry.kinds())
      for (const auto& m : kind.metrics) {
        declared_[kind.type].insert(m.name);
        if (family_index_.emplace(m.name, kind_families_.size()).second) kind_families_.push_back(m);
      }
  }

  // A sample its kind did not declare is a bug in the probe (a mistyped
  // name): it is never exported, said once in the log, and stops a debug
  // build at once so tests catch it.
  void check_declared(const std::string& kind, const std::vector<sample>& samples) {
    const auto names = declared_.find(kind);
    for (const auto& s : samples) {
      if (names != declared_.end() && names->second.contains(s.name)) continue;
      if (undeclared_seen_.insert(kind + " " + s.name).second)
        spdlog::error("metrics: the {} probe produced {}, which its kind does not declare; not exported", kind,
                      s.name);
      assert(!"a probe produced a sample its kind does not declare");
    }
  }

  void write_probe_series(std::string& out) const;
  void write_kind_samples(std::string& out) const;

  // The daemon's own series: few, so prometheus-cpp's types serve them.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& reload_ok_;
  prometheus::Gauge& reload_time_;
  prometheus::Family<prometheus::Gauge>& alerts_;
  std::map<std::map<std::string, std::string>, prometheus::Gauge*> alert_gauges_;
  prometheus::Family<prometheus::Counter>& notifications_;
  prometheus::Family<prometheus::Gauge>& queue_;
  prometheus::Gauge& store_healthy_;
  prometheus::Family<prometheus::Counter>& http_dropped_;
  prometheus::Family<prometheus::Counter>& http_refused_;
  prometheus::Gauge& web_config_ok_;
  prometheus::Histogram& lag_;
  self_metrics self_;

  std::vector<metric_info> kind_families_;
  std::unordered_map<std::string_view, std::size_t> family_index_;
  std::map<std::string_view, std::set<std::string_view, std::less<>>, std::less<>> declared_;  // kind -> names
  std::set<std::string> undeclared_seen_;
  std::map<std::string, probe_series, std::less<>> probes_;  // ordered: a stable exposition
};

namespace {

void append_common_labels(std::string& out, const std::string& probe, const probe_series& p) {
  exposition::append_label(out, "kind", p.kind, true);
  exposition::append_label(out, "probe", probe);
}

void append_gauge_line(std::string& out, std::string_view name, const std::string& probe, const probe_series& p,
                       double value) {
  out += name;
  out += '{';
  append_common_labels(out, probe, p);
  out += "} ";
  exposition::append_value(out, value);
  out += '\n';
}

}  // namespace

void metrics::impl::write_probe_series(std::string& out) const {
  using exposition::append_header;
  append_header(out, "vitals_probe_success", "Whether the probe's last run succeeded (1) or failed (0)", "gauge");
  for (const auto& [name, p] : probes_)
    if (p.has_result) append_gauge_line(out, "vitals_probe_success", name, p, p.success ? 1 : 0);

  append_header(out, "vitals_probe_up", "Probe state after failure and success thresholds: 1 up, 0 down", "gauge");
  for (const auto& [name, p] : probes_)
    if (p.has_result) append_gauge_line(out, "vitals_probe_up", name, p, p.up ? 1 : 0);

  append_header(out, "vitals_probe_failure_info",
                "Always 1 while the probe's last run failed; reason names the cause (refused, timeout, locked, ...)",
                "gauge");
  for (const auto& [name, p] : probes_) {
    if (!p.has_result || p.success) continue;
    out += "vitals_probe_failure_info{";
    append_common_labels(out, name, p);
    exposition::append_label(out, "reason", p.reason);
    out += "} 1\n";
  }

  append_header(out, "vitals_probe_last_run_timestamp_seconds", "Unix time at which the probe's last run finished",
                "gauge");
  for (const auto& [name, p] : probes_)
    if (p.has_result) append_gauge_line(out, "vitals_probe_last_run_timestamp_seconds", name, p, p.last_run);

  append_header(out, "vitals_probe_runs_total",
                "Probe runs by result: ok, fail, timeout, or skipped (previous run still in flight)", "counter");
  for (const auto& [name, p] : probes_) {
    for (const auto& [result, count] : {std::pair{"ok", p.ok}, std::pair{"fail", p.fail},
                                        std::pair{"timeout", p.timeout}, std::pair{"skipped", p.skipped}}) {
      out += "vitals_probe_runs_total{";
      append_common_labels(out, name, p);
      exposition::append_label(out, "result", result);
      out += "} ";
      exposition::append_value(out, static_cast<double>(count));
      out += '\n';
    }
  }

  append_header(out, "vitals_probe_duration_seconds", "Duration of probe runs, measured by the scheduler",
                "histogram");
  for (const auto& [name, p] : probes_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < p.buckets.size(); ++i) {
      cumulative += p.buckets[i];
      out += "vitals_probe_duration_seconds_bucket{";
      append_common_labels(out, name, p);
      out += ",le=\"";
      if (i < duration_buckets.size()) exposition::append_value(out, duration_buckets[i]);
      else out += "+Inf";
      out += "\"} ";
      exposition::append_value(out, static_cast<double>(cumulative));
      out += '\n';
    }
    append_gauge_line(out, "vitals_probe_duration_seconds_sum", name, p, p.duration_sum);
    append_gauge_line(out, "vitals_probe_duration_seconds_count", name, p, static_cast<double>(p.duration_count));
  }
}

void metrics::impl::write_kind_samples(std::string& out) const {
  // Group by family first: the format wants each family's lines together.
  std::vector<std::vector<std::pair<const std::string*, const sample*>>> by_family(kind_families_.size());
  for (const auto& [name, p] : probes_) {
    for (const auto& s : p.samples) {
      auto it = family_index_.find(s.name);
      if (it == family_index_.end()) continue;  // not declared by its kind: a probe bug, never exported
      by_family[it->second].emplace_back(&name, &s);
    }
  }
  for (std::size_t f = 0; f < kind_families_.size(); ++f) {
    if (by_family[f].empty()) continue;
    const auto& info = kind_families_[f];
    exposition::append_header(out, info.name, info.help, info.kind == metric_kind::counter ? "counter" : "gauge");
    for (const auto& [probe, s] : by_family[f]) {
      out += info.name;
      out += '{';
      exposition::append_label(out, "probe", *probe, true);
      for (const auto& [k, v] : s->labels) exposition::append_label(out, k, v);
      out += "} ";
      exposition::append_value(out, s->value);
      out += '\n';
    }
  }
}

metrics::metrics(const probe_registry& registry) : impl_(std::make_unique<impl>(registry)) {}
metrics::~metrics() = default;

void metrics::probe_added(const probe_settings& s) {
  probe_series p;
  p.kind = s.type;
  impl_->probes_.insert_or_assign(s.name, std::move(p));
}

void metrics::probe_removed(const probe_settings& s) {
  if (auto it = impl_->probes_.find(s.name); it != impl_->probes_.end()) impl_->probes_.erase(it);
}

void metrics::run_finished(const probe_settings& s, const run_outcome& out, std::optional<bool> up) {
  auto it = impl_->probes_.find(s.name);
  if (it == impl_->probes_.end()) return;
  auto& p = it->second;
  p.has_result = true;
  p.success = out.result.ok;
  p.reason = out.result.ok ? "" : out.timed_out ? "timeout" : out.result.reason.empty() ? "error" : out.result.reason;
  p.up = up.value_or(out.result.ok);
  p.last_run = unix_seconds(out.finished_at);
  std::size_t bucket = 0;
  while (bucket < duration_buckets.size() && out.duration_seconds > duration_buckets[bucket]) ++bucket;
  ++p.buckets[bucket];
  p.duration_sum += out.duration_seconds;
  ++p.duration_count;
  ++(out.timed_out ? p.timeout : out.result.ok ? p.ok : p.fail);
  impl_->check_declared(s.type, out.result.samples);
  p.samples = out.result.samples;
}

void metrics::run_skipped(const probe_settings& s) {
  if (auto it = impl_->probes_.find(s.name); it != impl_->probes_.end()) ++it->second.skipped;
}

void metrics::scheduler_lag(double seconds) { impl_->lag_.Observe(seconds < 0 ? 0 : seconds); }

void metrics::config_loaded(bool ok) {
  impl_->reload_ok_.Set(ok ? 1 : 0);
  if (ok) impl_->reload_time_.Set(unix_seconds(std::chrono::system_clock::now()));
}

void metrics::alerts_changed(const std::map<std::array<std::string, 3>, int>& counts) {
  auto& gauges = impl_->alert_gauges_;
  std::map<std::map<std::string, std::string>, int> wanted;
  for (const auto& [key, n] : counts) wanted[{{"alertname", key[0]}, {"severity", key[1]}, {"state", key[2]}}] = n;
  for (auto it = gauges.begin(); it != gauges.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    impl_->alerts_.Remove(it->second);  // no longer active: the series goes away
    it = gauges.erase(it);
  }
  for (const auto& [labels, n] : wanted) {
    auto [it, inserted] = gauges.try_emplace(labels, nullptr);
    if (inserted) it->second = &impl_->alerts_.Add(labels);
    it->second->Set(n);
  }
}

void metrics::notification_result(const std::string& notifier, const std::string& result) {
  impl_->notifications_.Add({{"notifier", notifier}, {"result", result}}).Increment();
}

void metrics::notification_queue(const std::string& notifier, std::size_t length) {
  impl_->queue_.Add({{"notifier", notifier}}).Set(static_cast<double>(length));
}

void metrics::state_store_health(bool healthy) { impl_->store_healthy_.Set(healthy ? 1 : 0); }

void metrics::http_connection_dropped(std::string_view reason) {
  impl_->http_dropped_.Add({{"reason", std::string(reason)}}).Increment();
}

void metrics::http_request_refused(std::string_view reason) {
  impl_->http_refused_.Add({{"reason", std::string(reason)}}).Increment();
}

void metrics::web_config_loaded(bool ok) { impl_->web_config_ok_.Set(ok ? 1 : 0); }

std::string metrics::serialize() const {
  std::string out;
  out.reserve(1024 + impl_->probes_.size() * 2600);  // about what one port probe takes
  impl_->write_probe_series(out);
  impl_->write_kind_samples(out);
  auto families = impl_->registry_->Collect();
  auto self = impl_->self_.Collect();
  families.insert(families.end(), std::make_move_iterator(self.begin()), std::make_move_iterator(self.end()));
  out += prometheus::TextSerializer().Serialize(families);
  return out;
}

}  // namespace vitals
