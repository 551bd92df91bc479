#pragma once

#include "daemon/server/http_server.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vitals {

class metrics;
class scheduler;
struct probe_context;
class state_keeper;
class probe_history;
namespace alerts {
class engine;
}

// How a reload ends: applied, or rejected with its errors (one per line).
using reload_done = std::function<void(bool ok, const std::string& errors)>;

// Where the server listens, as bound (port 0 resolved), and
// server.allowed_hosts: the Host values a state-changing request may carry.
struct listen_hosts {
  asio::ip::tcp::endpoint listening;
  std::vector<std::string> allowed;  // "name" (with the listen port or none) or "name:port"
};

// What the HTTP routes read, and the one thing they may ask the app to do.
// Owned by the app; every reference outlives the routes. Loop thread only.
struct route_context {
  const metrics& telemetry;
  const scheduler& sched;
  const alerts::engine& alert_engine;
  const state_keeper& keeper;
  const probe_history& history;
  const std::string& host_name;                   // shown on the status page
  std::function<bool()> ready;                     // GET /-/ready
  std::function<bool()> lifecycle_enabled;         // server.enable_lifecycle of the running config
  std::function<void(reload_done)> reload;          // POST /-/reload; answers when the reload is done
  std::function<listen_hosts()> hosts;              // for POST /-/reload's Host and Origin
  const probe_context& work;                        // its pool serialises /metrics off the loop
};

// Why a state-changing request (POST /-/reload) is refused as one another
// site could have made a browser send, in one line; nullopt when it may go
// on. A browser sends a cross-site form post or fetch() without a preflight
// only while it looks like a form (no custom header, a form's content
// type), so the request must carry `Content-Type: application/json` or an
// `X-Requested-With` header; an `Origin` must name this server, and so must
// `Host`, or a site could rebind its own name to this address (DNS
// rebinding): the listen address or a loopback name with the listen port,
// any IP address with it when listening on every address (plus this host's
// name), or an allowed host. `host_name` is this machine's name.
std::optional<std::string> cross_site_refusal(const http_request& req, const listen_hosts& hosts,
                                              const std::string& host_name);

// Answers one request: /metrics (serialised on the pool, gzipped when the
// client accepts it), /, /probes/NAME, /api/v1/{probes,alerts,incidents},
// /api/v1/probes/NAME/history,
// /-/{healthy,ready,reload} (docs/api.md), /runbooks/ and /runbooks/NAME
// (runbook_pages.hpp). Unknown paths get 404, wrong
// methods 405 with Allow, bad query parameters 400 naming the parameter.
http_response route(const route_context& ctx, const http_request& req);

}  // namespace vitals
