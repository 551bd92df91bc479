#include "daemon/metrics/metrics.hpp"

#include "daemon/metrics/self_metrics.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/version.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cassert>
#include <chrono>
#include <map>
#include <set>

namespace vitals {

namespace {

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

struct metrics::impl {
  explicit impl(const probe_registry& registry)
      : kinds_(std::make_shared<kind_families>(registry)),
        registry_(std::make_shared<prometheus::Registry>()),
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
        rule_failures_(prometheus::BuildCounter()
                           .Name("vitals_alert_rule_evaluation_failures_total")
                           .Help("Evaluations of an alert rule that failed (e.g. many-to-many matching); its alerts "
                                 "stay as they were")
                           .Register(*registry_)),
        rule_incomplete_(prometheus::BuildGauge()
                             .Name("vitals_alert_rule_history_incomplete")
                             .Help("1 while a range selector or offset of the rule reads a history that left out "
                                   "series for lack of room (alerts.max_history_series)")
                             .Register(*registry_)),
        history_series_(prometheus::BuildGauge()
                            .Name("vitals_alert_history_series")
                            .Help("Series whose past samples the alert engine keeps for range selectors and offsets")
                            .Register(*registry_)
                            .Add({})),
        history_samples_(prometheus::BuildGauge()
                             .Name("vitals_alert_history_samples")
                             .Help("Past samples the alert engine keeps for range selectors and offsets")
                             .Register(*registry_)
                             .Add({})),
        notifications_(prometheus::BuildCounter()
                           .Name("vitals_notifications_total")
                           .Help("Notification batches by receiver kind, peer (the receiver's host:port) and "
                                 "result: ok, retry, rejected, failed, dropped")
                           .Register(*registry_)),
        queue_(prometheus::BuildGauge()
                   .Name("vitals_notification_queue_length")
                   .Help("Notification batches waiting to be sent, by receiver kind and peer (host:port)")
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
      for (const auto& m : kind.metrics) declared_[kind.type].insert(m.name);
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

  // The probe's series, ready to be written: a copy when a snapshot still
  // shares the current one (snapshots never change).
  probe_series* writable(const std::string& name) {
    const auto it = probes_.find(name);
    if (it == probes_.end()) return nullptr;
    if (it->second.use_count() > 1) it->second = std::make_shared<probe_series>(*it->second);
    // The last snapshot let go of it on another thread: see its reads done
    // before this thread writes.
    else std::atomic_thread_fence(std::memory_order_acquire);
    return it->second.get();
  }

  std::shared_ptr<const kind_families> kinds_;
  // The daemon's own series: few, so prometheus-cpp's types serve them.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& reload_ok_;
  prometheus::Gauge& reload_time_;
  prometheus::Family<prometheus::Gauge>& alerts_;
  std::map<std::map<std::string, std::string>, prometheus::Gauge*> alert_gauges_;
  prometheus::Family<prometheus::Counter>& rule_failures_;
  prometheus::Family<prometheus::Gauge>& rule_incomplete_;
  prometheus::Gauge& history_series_;
  prometheus::Gauge& history_samples_;
  std::map<std::string, std::pair<prometheus::Counter*, prometheus::Gauge*>> rule_series_;
  prometheus::Family<prometheus::Counter>& notifications_;
  prometheus::Family<prometheus::Gauge>& queue_;
  prometheus::Gauge& store_healthy_;
  prometheus::Family<prometheus::Counter>& http_dropped_;
  prometheus::Family<prometheus::Counter>& http_refused_;
  prometheus::Gauge& web_config_ok_;
  prometheus::Histogram& lag_;
  self_metrics self_;

  std::map<std::string_view, std::set<std::string_view, std::less<>>, std::less<>> declared_;  // kind -> names
  std::set<std::string> undeclared_seen_;
  // Ordered: a stable exposition. Only the loop thread changes a count of
  // these pointers (snapshots are taken there), so a count of one means no
  // snapshot shares it.
  std::map<std::string, std::shared_ptr<probe_series>, std::less<>> probes_;
};

metrics::metrics(const probe_registry& registry) : impl_(std::make_unique<impl>(registry)) {}
metrics::~metrics() = default;

void metrics::probe_added(const probe_settings& s) {
  auto p = std::make_shared<probe_series>();
  p->name = s.name;
  p->kind = s.type;
  impl_->probes_.insert_or_assign(s.name, std::move(p));
}

void metrics::probe_removed(const probe_settings& s) {
  if (auto it = impl_->probes_.find(s.name); it != impl_->probes_.end()) impl_->probes_.erase(it);
}

void metrics::run_finished(const probe_settings& s, const run_outcome& out, std::optional<bool> up) {
  auto* found = impl_->writable(s.name);
  if (!found) return;
  auto& p = *found;
  p.has_result = true;
  p.success = out.result.ok;
  p.reason = out.result.ok ? "" : out.timed_out ? "timeout" : out.result.reason.empty() ? "error" : out.result.reason;
  p.up = up.value_or(out.result.ok);
  p.last_run = unix_seconds(out.finished_at);
  std::size_t bucket = 0;
  while (bucket < probe_duration_buckets.size() && out.duration_seconds > probe_duration_buckets[bucket]) ++bucket;
  ++p.buckets[bucket];
  p.duration_sum += out.duration_seconds;
  ++p.duration_count;
  ++(out.timed_out ? p.timeout : out.result.ok ? p.ok : p.fail);
  impl_->check_declared(s.type, out.result.samples);
  // Filed under their families now, so that no walk of a snapshot (every
  // scrape, every rule evaluation) looks their names up again; a sample
  // its kind did not declare is dropped here.
  const auto& index = impl_->kinds_->index;
  p.set_samples(out.result.samples, [&index](std::string_view name) -> std::optional<std::uint16_t> {
    const auto it = index.find(name);
    if (it == index.end()) return std::nullopt;
    return static_cast<std::uint16_t>(it->second);
  });
}

void metrics::run_skipped(const probe_settings& s) {
  if (auto* p = impl_->writable(s.name)) ++p->skipped;
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

void metrics::rules_evaluated(const std::vector<rule_evaluation>& rules, std::size_t history_series,
                              std::size_t history_samples) {
  auto& series = impl_->rule_series_;
  std::set<std::string> listed;
  for (const auto& r : rules) listed.insert(r.name);
  for (auto it = series.begin(); it != series.end();) {
    if (listed.contains(it->first)) {
      ++it;
      continue;
    }
    impl_->rule_failures_.Remove(it->second.first);
    impl_->rule_incomplete_.Remove(it->second.second);
    it = series.erase(it);
  }
  for (const auto& r : rules) {
    auto [it, inserted] = series.try_emplace(r.name, nullptr, nullptr);
    if (inserted) {
      it->second.first = &impl_->rule_failures_.Add({{"alertname", r.name}});
      it->second.second = &impl_->rule_incomplete_.Add({{"alertname", r.name}});
    }
    if (r.failed) it->second.first->Increment();
    it->second.second->Set(r.history_incomplete ? 1 : 0);
  }
  impl_->history_series_.Set(static_cast<double>(history_series));
  impl_->history_samples_.Set(static_cast<double>(history_samples));
}

void metrics::notification_result(const std::string& notifier, const std::string& peer, const std::string& result,
                                  double count) {
  impl_->notifications_.Add({{"notifier", notifier}, {"peer", peer}, {"result", result}}).Increment(count);
}

void metrics::notification_queue(const std::string& notifier, const std::string& peer, std::size_t length) {
  impl_->queue_.Add({{"notifier", notifier}, {"peer", peer}}).Set(static_cast<double>(length));
}

void metrics::notification_queue_removed(const std::string& notifier, const std::string& peer) {
  auto& family = impl_->queue_;
  family.Remove(&family.Add({{"notifier", notifier}, {"peer", peer}}));
}

void metrics::state_store_health(bool healthy) { impl_->store_healthy_.Set(healthy ? 1 : 0); }

void metrics::http_connection_dropped(std::string_view reason) {
  impl_->http_dropped_.Add({{"reason", std::string(reason)}}).Increment();
}

void metrics::http_request_refused(std::string_view reason) {
  impl_->http_refused_.Add({{"reason", std::string(reason)}}).Increment();
}

void metrics::web_config_loaded(bool ok) { impl_->web_config_ok_.Set(ok ? 1 : 0); }

std::shared_ptr<const metrics_snapshot> metrics::snapshot() const {
  std::vector<std::shared_ptr<const probe_series>> probes;
  probes.reserve(impl_->probes_.size());
  for (const auto& [name, p] : impl_->probes_) probes.push_back(p);
  auto own = impl_->registry_->Collect();
  auto self = impl_->self_.Collect();
  own.insert(own.end(), std::make_move_iterator(self.begin()), std::make_move_iterator(self.end()));
  return std::make_shared<const metrics_snapshot>(std::move(probes), impl_->kinds_, std::move(own));
}

std::string metrics::serialize() const { return snapshot()->text(); }

}  // namespace vitals
