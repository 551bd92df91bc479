#include "daemon/server/routes.hpp"

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/server/status_views.hpp"
#include "daemon/state/state_keeper.hpp"
#include "probes/core/units.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <charconv>
#include <optional>

namespace vitals {

namespace {

// Durations from requests beyond this are taken as "all".
constexpr auto longest_since = std::chrono::hours(24 * 365 * 100);

http_response method_not_allowed(const char* allow) {
  auto r = http_response::text(405, "method not allowed");
  r.headers.emplace_back("Allow", allow);
  return r;
}

// The first value of a query parameter, percent-decoded.
std::optional<std::string> param(const boost::urls::url_view& url, std::string_view name) {
  const auto params = url.params();
  const auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  return std::string((*it).value);
}

// GET /api/v1/incidents?since=24h&limit=N: open, or resolved within that
// long (default: all kept); the newest N (default 1000).
http_response incidents(const route_context& ctx, const boost::urls::url_view& url) {
  auto since = std::chrono::milliseconds(longest_since);
  if (const auto v = param(url, "since")) {
    const auto d = parse_duration(*v);
    if (!d) return http_response::text(400, "since: expected a duration such as 30m, 24h or 7d");
    since = std::min(*d, since);
  }
  std::size_t limit = 1000;
  if (const auto v = param(url, "limit")) {
    const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), limit);
    if (ec != std::errc() || p != v->data() + v->size() || limit == 0)
      return http_response::text(400, "limit: expected a positive whole number");
  }
  const auto list = valid_utf8_incidents(ctx.keeper.incidents(alerts::wall_clock::now() - since, limit));
  return http_response{200, "application/json", incidents_json(list), {}, {}};
}

}  // namespace

http_response route(const route_context& ctx, const http_request& req) {
  const auto parsed = boost::urls::parse_origin_form(req.target);
  if (!parsed) return http_response::text(400, "bad request target");
  const boost::urls::url_view url = *parsed;
  const std::string path = url.path();
  const bool get = req.method == "GET" || req.method == "HEAD";

  if (path == "/-/reload") {
    if (req.method != "POST" && req.method != "PUT") return method_not_allowed("POST");
    if (!ctx.lifecycle_enabled())
      return http_response::text(403, "lifecycle API disabled; set server.enable_lifecycle: true");
    http_response later;
    later.deferred = [reload = ctx.reload](std::function<void(http_response)> reply) {
      reload([reply = std::move(reply)](bool ok, const std::string& errors) {
        reply(ok ? http_response::text(200, "config reloaded")
                 : http_response::text(500, "config rejected, previous config kept:\n" + errors));
      });
    };
    return later;
  }
  if (path == "/metrics" || path == "/-/healthy" || path == "/-/ready" || path == "/api/v1/probes" ||
      path == "/api/v1/alerts" || path == "/api/v1/incidents" || path == "/") {
    if (!get) return method_not_allowed("GET");
  }
  if (path == "/metrics")
    return http_response{200, std::string(metrics::content_type), ctx.telemetry.serialize(), {}, {}};
  if (path == "/-/healthy") return http_response::text(200, "vitalsd is healthy");
  if (path == "/-/ready") {
    if (!ctx.ready()) return http_response::text(503, "vitalsd is starting");
    return http_response::text(200, "vitalsd is ready");
  }
  if (path == "/api/v1/probes") return http_response{200, "application/json", probes_json(ctx.sched.status()), {}, {}};
  if (path == "/api/v1/alerts")
    return http_response{200, "application/json", alerts_json(ctx.alert_engine.active()), {}, {}};
  if (path == "/api/v1/incidents") return incidents(ctx, url);
  if (path == "/") {
    status_page page{ctx.host_name, alerts::wall_clock::now(), ctx.sched.status(), ctx.alert_engine.active(), {}};
    page.incidents = valid_utf8_incidents(ctx.keeper.incidents(page.now - std::chrono::days(7), 20));
    return http_response{200, "text/html; charset=utf-8", status_page_html(page), {}, {}};
  }
  return http_response::text(404, "not found");
}

}  // namespace vitals
