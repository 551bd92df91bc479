#pragma once

// The JSON bodies the notifier POSTs. Pure functions of the batch.

#include "daemon/notify/alert_batcher.hpp"
#include "probes/core/redaction.hpp"

#include <string>
#include <vector>

namespace vitals {

// Who sends: `instance` (the host name) becomes every alert's `instance`
// label; `generator_url` (the status page) its generatorURL. Every label
// and annotation is redacted with `secrets` (the config's) as it is
// written into a body.
struct alert_sender {
  std::string instance;
  std::string generator_url;
  redactor secrets{};
};

// Alertmanager API v2: a JSON array of alerts with labels, annotations
// (only the non-empty ones), startsAt, endsAt and generatorURL.
std::string alertmanager_body(const std::vector<outgoing_alert>& batch, const alert_sender& from);

// The shape of Alertmanager's own webhook payload (version "4", a status
// per alert and overall), so receivers written for it work unchanged.
std::string webhook_body(const std::vector<outgoing_alert>& batch, const alert_sender& from);

// Where alerts go under an Alertmanager base URL's path and query:
// <path>/api/v2/alerts[?query].
std::string alertmanager_alerts_target(std::string base_path);

}  // namespace vitals
