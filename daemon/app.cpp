#include "daemon/app.hpp"

#include "daemon/alert_engine.hpp"
#include "daemon/config.hpp"
#include "daemon/http_server.hpp"
#include "daemon/logging.hpp"
#include "daemon/metrics.hpp"
#include "daemon/notifier.hpp"
#include "daemon/runtime.hpp"
#include "daemon/scheduler.hpp"
#include "daemon/status_views.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <csignal>

namespace vitals {

namespace {
// SIGTERM to exit must stay under 5 s (DESIGN §3); runs get most of it.
constexpr auto drain_limit = std::chrono::seconds(4);
}  // namespace

struct app::impl {
  explicit impl(std::string path)
      : config_path(std::move(path)),
        telemetry(rt.registry),
        sched(rt.io, telemetry),
        signals(rt.io, SIGINT, SIGTERM, SIGHUP) {}

  // Loads and applies the file. On failure the running config stays.
  bool reload(std::string& errors_out) {
    auto loaded = load_config_file(config_path, rt.registry, rt.ctx);
    if (!loaded.cfg) {
      for (const auto& e : loaded.errors) {
        spdlog::error("config: {}", e.str());
        errors_out += e.str() + "\n";
      }
      spdlog::error("config: reload rejected, {} error(s); still running the previous config", loaded.errors.size());
      telemetry.config_loaded(false);
      return false;
    }
    const auto& next = *loaded.cfg;
    if (!setup_logging(next.log)) spdlog::warn("config: log settings not applied");
    if (current && (next.server.listen != current->server.listen ||
                    next.server.max_connections != current->server.max_connections))
      spdlog::warn("config: server.listen and server limits change only on restart");
    sched.apply(next);
    alert_engine.set_rules(next.alert_rules);
    if (notify) notify->configure(next.notifications);
    current = loaded.cfg;
    telemetry.config_loaded(true);
    spdlog::info("config: loaded {} ({} probes)", config_path, next.probes.size());
    return true;
  }

  http_response handle(const http_request& req) {
    const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
    const bool get = req.method == "GET" || req.method == "HEAD";
    if (path == "/-/reload") {
      if (req.method != "POST" && req.method != "PUT") return method_not_allowed("POST");
      if (!current->server.enable_lifecycle)
        return http_response::text(403, "lifecycle API disabled; set server.enable_lifecycle: true");
      std::string errors;
      if (!reload(errors)) return http_response::text(500, "config rejected, previous config kept:\n" + errors);
      return http_response::text(200, "config reloaded");
    }
    if (path == "/metrics" || path == "/-/healthy" || path == "/-/ready" || path == "/api/v1/probes" ||
        path == "/api/v1/alerts" || path == "/") {
      if (!get) return method_not_allowed("GET");
    }
    if (path == "/metrics")
      return http_response{200, std::string(metrics::content_type), telemetry.serialize(), {}};
    if (path == "/-/healthy") return http_response::text(200, "vitalsd is healthy");
    if (path == "/-/ready") {
      if (!ready) return http_response::text(503, "vitalsd is starting");
      return http_response::text(200, "vitalsd is ready");
    }
    if (path == "/api/v1/probes")
      return http_response{200, "application/json", probes_json(sched.status()), {}};
    if (path == "/api/v1/alerts")
      return http_response{200, "application/json", alerts_json(alert_engine.active()), {}};
    if (path == "/")
      return http_response{200, "text/html; charset=utf-8", status_page_html(sched.status()), {}};
    return http_response::text(404, "not found");
  }

  static http_response method_not_allowed(const char* allow) {
    auto r = http_response::text(405, "method not allowed");
    r.headers.emplace_back("Allow", allow);
    return r;
  }

  asio::awaitable<void> handle_signals() {
    for (;;) {
      boost::system::error_code ec;
      const int sig = co_await signals.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reloading {}", config_path);
        std::string ignored;
        reload(ignored);
        continue;
      }
      spdlog::info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      co_await shut_down();
      co_return;
    }
  }

  asio::awaitable<void> shut_down() {
    ready = false;
    if (server) server->stop();
    sched.stop();
    // Cancelled runs unwind on the loop; give them a moment, never more.
    asio::steady_timer tick(rt.io);
    const auto until = steady_clock::now() + drain_limit;
    while (sched.in_flight() > 0 && steady_clock::now() < until) {
      tick.expires_after(std::chrono::milliseconds(10));
      boost::system::error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    signals.cancel();
    rt.io.stop();
  }

  // Evaluates the alert rules over what /metrics shows, the way Prometheus
  // would over a scrape, and logs every transition once.
  asio::awaitable<void> evaluate_alerts() {
    asio::steady_timer tick(rt.io);
    for (;;) {
      tick.expires_after(current ? current->alert_evaluation_interval : std::chrono::seconds(5));
      boost::system::error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      const auto now = std::chrono::system_clock::now();
      const auto changes = alert_engine.evaluate(alerts::parse_exposition(telemetry.serialize()), now);
      for (const auto& t : changes) log_transition(t);
      if (notify) notify->after_evaluation(changes, alert_engine.active(), now);
      std::map<std::array<std::string, 3>, int> counts;
      for (const auto& a : alert_engine.active())
        ++counts[{a.rule, a.label_values.at("severity"), a.state == alerts::alert_state::firing ? "firing" : "pending"}];
      telemetry.alerts_changed(counts);
    }
  }

  static void log_transition(const alerts::transition& t) {
    std::string where;
    for (const auto& [k, v] : t.alert.label_values)
      if (k != "alertname" && k != "severity") where += (where.empty() ? "" : ",") + k + "=" + v;
    const auto& name = t.alert.rule;
    const auto& severity = t.alert.label_values.at("severity");
    switch (t.what) {
      case alerts::transition::kind::pending:
        spdlog::info("alert {} pending ({}, {}): {}", name, severity, where, t.alert.summary);
        break;
      case alerts::transition::kind::firing:
        spdlog::warn("alert {} firing ({}, {}): {} runbook: {}", name, severity, where, t.alert.summary,
                     t.alert.runbook_url);
        break;
      case alerts::transition::kind::resolved:
        spdlog::info("alert {} resolved ({}, {})", name, severity, where);
        break;
    }
  }

  std::string config_path;
  runtime rt;
  metrics telemetry;
  scheduler sched;
  alerts::engine alert_engine;
  std::unique_ptr<notifier> notify;  // made once the daemon knows its own URL
  std::unique_ptr<http_server> server;  // made once the first config gives its limits
  asio::signal_set signals;
  std::shared_ptr<const config> current;
  bool ready = false;
};

app::app(std::string config_path) : impl_(std::make_unique<impl>(std::move(config_path))) {}
app::~app() = default;

int app::run() {
  auto& m = *impl_;
  auto loaded = load_config_file(m.config_path, m.rt.registry, m.rt.ctx);
  if (!loaded.cfg) {
    for (const auto& e : loaded.errors) spdlog::error("config: {}", e.str());
    return 2;
  }
  const auto& cfg = *loaded.cfg;
  if (!setup_logging(cfg.log)) spdlog::warn("config: log settings not applied");

  try {
    // Limits are fixed for the process' life; they come from the first config.
    m.server = std::make_unique<http_server>(
        m.rt.io, [&m](const http_request& r) { return m.handle(r); },
        http_limits{cfg.server.max_connections, cfg.server.header_timeout, cfg.server.max_request_bytes});
    const auto endpoint = m.server->listen(cfg.server.listen);
    const auto host = endpoint.address().to_string();
    const std::string self_url = "http://" + (endpoint.address().is_v6() ? "[" + host + "]" : host) + ":" +
                                 std::to_string(endpoint.port()) + "/";
    spdlog::info("listening on {} (metrics at /metrics)", self_url);
    char hostname[256] = {};
    ::gethostname(hostname, sizeof hostname - 1);
    m.notify = std::make_unique<notifier>(m.rt.io, m.telemetry, hostname, self_url);
  } catch (const std::exception& ex) {
    spdlog::error("cannot listen on {}: {}", cfg.server.listen, ex.what());
    return 1;
  }

  m.sched.apply(cfg);
  m.alert_engine.set_rules(cfg.alert_rules);
  m.notify->configure(cfg.notifications);
  m.current = loaded.cfg;
  m.telemetry.config_loaded(true);
  m.ready = true;
  spdlog::info("vitalsd started: {} probes from {}", cfg.probes.size(), m.config_path);

  asio::co_spawn(m.rt.io, m.handle_signals(), asio::detached);
  asio::co_spawn(m.rt.io, m.evaluate_alerts(), asio::detached);
  m.rt.io.run();
  spdlog::info("vitalsd stopped");
  return 0;
}

}  // namespace vitals
