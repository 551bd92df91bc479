#pragma once

// Sends alerts to Alertmanager (API v2) and to a webhook, asynchronously on
// the loop, with bounded retries and a bounded queue: an unreachable or
// slow receiver costs queued notifications, never a stall. Beast stays in
// notifier.cpp; what to send is alert_batcher's decision, what each answer
// means delivery_queue's, and the bodies come from alert_payload.

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/notify/notify_settings.hpp"
#include "probes/core/redaction.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace vitals {

class metrics;
struct web_url;

// The `peer` label of a receiver's notification series: its URL's host and
// port ("am-1.example:9093", "[::1]:9093"), the port written even when it
// is the scheme's default. Never userinfo, path or query: a web_url holds
// no userinfo (the config refuses it) and the path and query are left out
// here, so a credential or token in a URL cannot reach /metrics this way.
std::string notification_peer(const web_url& url);

class notifier {
public:
  // `instance` (the host name) and `generator_url` (the status page) go
  // into every alert. `m` counts results in vitals_notifications_total and
  // queued batches in vitals_notification_queue_length, per receiver kind
  // and peer (notification_peer of its URL).
  notifier(boost::asio::io_context& io, metrics& m, std::string instance, std::string generator_url);
  ~notifier();
  notifier(const notifier&) = delete;
  notifier& operator=(const notifier&) = delete;

  // `secrets` (the config's) redact every body and every receiver's URL
  // and error in the log; the URLs themselves are used as written.
  void configure(const notify_settings& s, redactor secrets = {});

  // After an evaluation: announces what started firing or resolved, and
  // re-sends every firing alert once per resend_interval (with endsAt a few
  // intervals ahead, so Alertmanager resolves it by itself should the
  // daemon die). Resolved alerts are re-sent for a few intervals, since
  // Alertmanager keeps no state across its own restarts.
  void after_evaluation(const std::vector<alerts::transition>& changes,
                        const std::vector<alerts::alert_instance>& active, alerts::wall_clock::time_point now);

  std::size_t queued() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;  // shared with the sending coroutines
};

}  // namespace vitals
