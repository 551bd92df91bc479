#pragma once

#include "daemon/alerts/alert_rules.hpp"
#include "daemon/notify/notify_settings.hpp"
#include "probes/core/diagnostics.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/redaction.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vitals {

class probe_registry;

struct server_settings {
  std::string listen = "127.0.0.1:9273";
  bool enable_lifecycle = false;      // POST /-/reload
  int max_connections = 64;           // concurrent HTTP connections
  duration header_timeout{10'000};    // whole request must arrive within this (slowloris)
  std::uint64_t max_request_bytes = 64 * 1024;
  // An exporter-toolkit web config (TLS, client certificates, basic auth,
  // headers); --web.config.file overrides it. Relative to the config file.
  std::string web_config_file;
  // Host header values POST /-/reload accepts besides the listen address
  // and the loopback names (a name a reverse proxy forwards, say).
  std::vector<std::string> allowed_hosts;
  // The URL users reach the daemon at, when not the listen address (a
  // proxy, another name): links in alerts (runbooks) start with it. Empty:
  // the listen address as bound. Ends in '/' when set.
  std::string external_url;
};

struct log_settings {
  std::string level = "info";  // trace|debug|info|warn|error
  std::string format = "text"; // text|json
};

struct state_settings {
  std::string path = "/var/lib/vitals/state.db";
  duration max_age{30LL * 24 * 3600 * 1000};  // resolved incidents older than this are deleted
  std::size_t max_incidents = 10'000;          // and beyond this many, the oldest resolved ones
  duration history_max_age{7LL * 24 * 3600 * 1000};  // run history aggregates older than this are deleted
};

struct config {
  std::string file;
  server_settings server;
  log_settings log;
  state_settings state;
  probe_settings defaults;  // name/type unused
  std::vector<probe_spec> probes;
  std::vector<alerts::rule> alert_rules;  // built-ins (unless alerts.defaults is false) and the user's
  std::chrono::milliseconds alert_evaluation_interval{5000};  // alerts.evaluation_interval
  std::size_t alert_max_history_series = alerts::default_max_history_series;  // alerts.max_history_series
  std::size_t alert_max_history_samples = alerts::default_max_history_samples;  // alerts.max_history_samples
  notify_settings notifications;  // read from notify:
  // Every value filled in from ${env:…}/${file:…}: "<redacted>" in every
  // output. The alert rules above are already redacted with it.
  redactor secrets;
};

struct load_result {
  std::shared_ptr<const config> cfg;  // null when there are errors
  std::vector<config_error> errors;
};

// How much of a probe a load makes. Reading and validating never opens
// anything; building makes each probe's instance (TLS contexts, host
// addresses, connections on first run) and needs the loop and the pool.
struct load_options {
  const probe_context* build = nullptr;  // null: validate only, no instance is made (validate, rules)
  const config* previous = nullptr;      // a running config: an unchanged probe (equal fingerprint)
                                         // keeps its instance instead of being built again
};

// The web config file to use: `override` (--web.config.file) when given,
// else server.web_config_file taken relative to the config file's
// directory; empty for none.
std::string web_config_path(const config& cfg, const std::string& override);

// Reads, substitutes secrets and validates. Never throws for bad input:
// every problem comes back in `errors` with file:line:column. A file is at
// most max_config_bytes, and what it expands to through aliases is bounded
// (probes/core/yaml_bounds.hpp).
inline constexpr std::size_t max_config_bytes = 4 << 20;
load_result load_config_file(const std::string& path, const probe_registry& registry, load_options options = {});
load_result load_config_text(const std::string& text, const std::string& file_name,
                             const probe_registry& registry, load_options options = {});

// The same, building every probe on `ctx`.
inline load_result load_config_file(const std::string& path, const probe_registry& registry,
                                    const probe_context& ctx) {
  return load_config_file(path, registry, load_options{.build = &ctx});
}
inline load_result load_config_text(const std::string& text, const std::string& file_name,
                                    const probe_registry& registry, const probe_context& ctx) {
  return load_config_text(text, file_name, registry, load_options{.build = &ctx});
}

}  // namespace vitals
