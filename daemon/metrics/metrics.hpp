#pragma once

#include "daemon/metrics/metrics_snapshot.hpp"
#include "daemon/sched/scheduler.hpp"

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace vitals {

class probe_registry;

// Every vitals_* series (DESIGN §5) and the process_* self metrics. Per-probe
// series are plain numbers (they are most of the exposition); the daemon's
// own few series use prometheus-cpp. Fed by the scheduler through run_sink;
// read through snapshots, which GET /metrics serialises and the alert
// engine selects from off the loop. Loop thread only.
class metrics final : public run_sink {
public:
  explicit metrics(const probe_registry& registry);
  ~metrics() override;
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  void probe_added(const probe_settings& s) override;
  void probe_removed(const probe_settings& s) override;
  void run_finished(const probe_settings& s, const run_outcome& out, std::optional<bool> up) override;
  void run_skipped(const probe_settings& s) override;
  void scheduler_lag(double seconds) override;

  // vitals_config_last_reload_successful (and its timestamp on success).
  void config_loaded(bool ok);

  // vitals_alerts{alertname,severity,state}: active instances counted by
  // {alertname, severity, state}. Series not in `counts` are removed.
  void alerts_changed(const std::map<std::array<std::string, 3>, int>& counts);

  // After an evaluation: each rule's outcome
  // (vitals_alert_rule_evaluation_failures_total{alertname},
  // vitals_alert_rule_history_incomplete{alertname}) and the size of the
  // history range selectors read (vitals_alert_history_series,
  // vitals_alert_history_samples). Series of rules not listed go away.
  struct rule_evaluation {
    std::string name;
    bool failed = false;
    bool history_incomplete = false;
  };
  void rules_evaluated(const std::vector<rule_evaluation>& rules, std::size_t history_series,
                       std::size_t history_samples);

  // vitals_notifications_total{notifier,peer,result}: `count` more batches
  // a receiver (its kind, and its URL's host:port) ended with result ok |
  // retry | rejected | failed | dropped. A count of 0 makes the series
  // exist, so increase() sees the zero before the first failure.
  void notification_result(const std::string& notifier, const std::string& peer, const std::string& result,
                           double count = 1);

  // vitals_notification_queue_length{notifier,peer}: batches waiting to be sent.
  void notification_queue(const std::string& notifier, const std::string& peer, std::size_t length);

  // A receiver no longer configured: its queue length goes away (its
  // counters stay, as counters never go back).
  void notification_queue_removed(const std::string& notifier, const std::string& peer);

  // vitals_state_store_healthy: 1 while the state store writes, 0 while
  // alerts and incidents live in memory only.
  void state_store_health(bool healthy);

  // vitals_http_connections_dropped_total{reason}: one more connection the
  // HTTP server closed against its client's will; reason evicted | refused |
  // idle_timeout | request_timeout | tls_handshake (http_server.hpp says
  // what each means).
  void http_connection_dropped(std::string_view reason);

  // vitals_http_requests_refused_total{reason}: missing_credentials |
  // wrong_credentials | auth_busy | rate_limited.
  void http_request_refused(std::string_view reason);

  // vitals_web_config_last_reload_successful.
  void web_config_loaded(bool ok);

  // What /metrics shows now, frozen: cheap to take (it shares each probe's
  // series until the loop next writes to them), readable from any thread.
  std::shared_ptr<const metrics_snapshot> snapshot() const;

  // The snapshot's text exposition, format 0.0.4.
  std::string serialize() const;

  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vitals
