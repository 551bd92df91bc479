#pragma once

// Where alerts go: the `notify:` section.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace vitals {

class node_reader;

struct notify_settings {
  std::vector<std::string> alertmanager_urls;  // base URLs; alerts go to <url>/api/v2/alerts
  std::string webhook_url;                     // empty: no webhook
  std::string webhook_bearer_token;            // a secret: never logged
  std::chrono::milliseconds resend_interval{60'000};
  std::size_t max_queue = 1000;                // batches waiting per receiver

  bool operator==(const notify_settings&) const = default;
};

// Reads `notify:` — alertmanager: {url | urls}, webhook: {url,
// bearer_token}, resend_interval, max_queue. False after reporting errors.
bool read_notify_settings(node_reader& r, notify_settings& out);

}  // namespace vitals
