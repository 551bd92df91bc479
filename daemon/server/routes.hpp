#pragma once

#include "daemon/server/http_server.hpp"

#include <functional>
#include <string>

namespace vitals {

class metrics;
class scheduler;
class state_keeper;
namespace alerts {
class engine;
}

// How a reload ends: applied, or rejected with its errors (one per line).
using reload_done = std::function<void(bool ok, const std::string& errors)>;

// What the HTTP routes read, and the one thing they may ask the app to do.
// Owned by the app; every reference outlives the routes. Loop thread only.
struct route_context {
  const metrics& telemetry;
  const scheduler& sched;
  const alerts::engine& alert_engine;
  const state_keeper& keeper;
  const std::string& host_name;                   // shown on the status page
  std::function<bool()> ready;                     // GET /-/ready
  std::function<bool()> lifecycle_enabled;         // server.enable_lifecycle of the running config
  std::function<void(reload_done)> reload;          // POST /-/reload; answers when the reload is done
};

// Answers one request: /metrics, /, /api/v1/{probes,alerts,incidents},
// /-/{healthy,ready,reload} (docs/api.md). Unknown paths get 404, wrong
// methods 405 with Allow, bad query parameters 400 naming the parameter.
http_response route(const route_context& ctx, const http_request& req);

}  // namespace vitals
