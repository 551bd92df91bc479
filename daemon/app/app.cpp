#include "daemon/app/app.hpp"

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/app/config.hpp"
#include "daemon/app/logging.hpp"
#include "daemon/app/runtime.hpp"
#include "daemon/app/service_notify.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/notify/notifier.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/server/http_server.hpp"
#include "daemon/server/routes.hpp"
#include "daemon/server/runbook_links.hpp"
#include "daemon/server/web_security.hpp"
#include "daemon/state/probe_history.hpp"
#include "daemon/state/state_keeper.hpp"
#include "probes/core/pool_call.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <malloc.h>
#include <unistd.h>

#include <csignal>
#include <utility>

namespace vitals {

namespace {
// SIGTERM to exit must stay under 5 s (DESIGN §3): cancelled runs get most
// of it, writing the alert state the rest.
constexpr auto drain_limit = std::chrono::milliseconds(3500);
constexpr auto final_write_limit = std::chrono::milliseconds(1000);
// How often the web config and the certificate files it names are looked
// at for changes (a renewed certificate is served without a reload).
constexpr auto web_files_check_period = std::chrono::seconds(2);

// How often aggregates of the run history that have ended are handed to
// the state keeper to be written.
constexpr auto history_close_period = std::chrono::seconds(5);

// What the scheduler observes goes to the metrics and to the run history.
class run_observers final : public run_sink {
public:
  run_observers(metrics& m, probe_history& h) : metrics_(m), history_(h) {}
  void probe_added(const probe_settings& s) override {
    metrics_.probe_added(s);
    history_.probe_added(s);
  }
  // The history stays until the config is applied (keep_only): a changed
  // probe is removed and added again under the same name.
  void probe_removed(const probe_settings& s) override { metrics_.probe_removed(s); }
  void run_finished(const probe_settings& s, const run_outcome& out, std::optional<bool> up) override {
    metrics_.run_finished(s, out, up);
    history_.run_finished(s, out);
  }
  void run_skipped(const probe_settings& s) override {
    metrics_.run_skipped(s);
    history_.run_skipped(s, std::chrono::system_clock::now());
  }
  void scheduler_lag(double seconds) override { metrics_.scheduler_lag(seconds); }

private:
  metrics& metrics_;
  probe_history& history_;
};

// A config with its web config (TLS, basic auth) loaded too: a reload is
// one unit, so a bad certificate rejects it and keeps everything running.
struct full_load {
  load_result config;
  web_security_load web;
};
}  // namespace

struct app::impl {
  impl(std::string path, std::string web_override)
      : config_path(std::move(path)),
        web_config_override(std::move(web_override)),
        telemetry(rt.registry),
        observers(telemetry, history),
        sched(rt.io, observers),
        keeper(rt.io, rt.pool, telemetry),
        signals(rt.io, SIGINT, SIGTERM, SIGHUP) {}

  // Reloads the file: it is read, parsed, validated and its new probes
  // built on the loader thread, so a hostile or huge config never holds
  // the loop (probes, /metrics and the watchdog keep their pace); the
  // result is applied on the loop. On failure the running config stays.
  // Reloads asked for while one is loading are served together by one more
  // load once it ends: the file may have changed after it was read.
  // `done` runs on the loop.
  void reload(reload_done done) {
    waiting_reloads.push_back(std::move(done));
    if (!loading) start_load();
  }

  void start_load() {
    loading = true;
    systemd.reloading();
    asio::post(loader, [this, previous = current, callers = std::exchange(waiting_reloads, {})]() mutable {
      // Unchanged probes keep their instance: nothing is built just to be dropped.
      auto loaded = std::make_shared<full_load>(load_everything(previous.get()));
      // Parsing a large config leaves megabytes of freed YAML nodes behind;
      // hand them back now, off the loop.
      ::malloc_trim(0);
      // Applied — or dropped, with the probes it built — on the loop.
      asio::post(rt.io, [this, loaded = std::move(loaded), previous = std::move(previous), callers = std::move(callers)] {
        std::string errors;
        const bool ok = !stopping && apply(*loaded, errors);
        if (stopping) errors = "vitalsd is stopping";
        loading = false;
        if (!stopping) systemd.ready(status_line());
        for (auto& done : callers) done(ok, errors);
        if (!waiting_reloads.empty() && !stopping) start_load();
      });
    });
  }

  std::string status_line() const {
    return std::to_string(sched.size()) + " probes from " + config_path;
  }

  // The config file and its web config, on the loader thread (or before
  // the loop runs).
  full_load load_everything(const config* previous) {
    full_load out{load_config_file(config_path, rt.registry, {.build = &rt.ctx, .previous = previous}), {}};
    if (!out.config.cfg) return out;
    out.web = load_web_security(web_config_path(*out.config.cfg, web_config_override));
    if (!out.web.ok()) {
      out.config.errors.insert(out.config.errors.end(), out.web.errors.begin(), out.web.errors.end());
      out.config.cfg = nullptr;
    }
    return out;
  }

  void secure(const web_security_load& web) {
    server->secure(web.security);
    telemetry.web_config_loaded(true);
    if (!web.security) return;
    const auto& w = web.security->config();
    spdlog::info("web config {}: {}, {} basic-auth user(s)", w.file,
                 w.tls ? (w.tls->client_auth_type == client_auth::require_and_verify ? "TLS with client certificates"
                                                                                    : "TLS")
                       : "plain HTTP",
                 w.basic_auth_users.size());
  }

  // A renewed certificate (or an edited web config) is taken up without a
  // reload: the files are looked at on the loader thread, and a bad new
  // set keeps the one in use.
  asio::awaitable<void> watch_web_files() {
    asio::steady_timer tick(rt.io);
    for (;;) {
      tick.expires_after(web_files_check_period);
      boost::system::error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec || stopping) co_return;
      auto running = server->security();
      if (!running || loading) continue;
      asio::post(loader, [this, running, path = running->config().file] {
        if (!running->files_changed()) return;
        auto web = std::make_shared<web_security_load>(load_web_security(path));
        asio::post(rt.io, [this, running, web] {
          if (stopping || server->security() != running) return;  // a reload came first
          if (!web->ok()) {
            for (const auto& e : web->errors) spdlog::error("web config: {}", e.str());
            spdlog::error("web config: changed files rejected; still serving with the previous ones");
            telemetry.web_config_loaded(false);
            return;
          }
          spdlog::info("web config: files changed, reloaded");
          secure(*web);
        });
      });
    }
  }

  bool apply(const full_load& everything, std::string& errors_out) {
    const auto& loaded = everything.config;
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
    apply_secrets(next);
    if (!setup_logging(next.log)) spdlog::warn("config: log settings not applied");
    if (current && (next.server.listen != current->server.listen ||
                    next.server.max_connections != current->server.max_connections ||
                    next.server.header_timeout != current->server.header_timeout ||
                    next.server.max_request_bytes != current->server.max_request_bytes ||
                    next.server.external_url != current->server.external_url))
      spdlog::warn("config: server.listen, server.external_url and server limits change only on restart");
    if (current && next.state.path != current->state.path)
      spdlog::warn("config: state.path changes only on restart; still using {}", current->state.path);
    secure(everything.web);
    sched.apply(next.probes, secrets);
    keep_histories(next);
    alert_engine.set_history_limits(next.alert_max_history_series, next.alert_max_history_samples);
    close_incidents(alert_engine.set_rules(with_runbook_links(next.alert_rules, link_url)),
                    "its rule changed or was removed");
    keeper.set_retention(retention_of(next.state));
    if (notify) notify->configure(next.notifications, secrets);
    current = loaded.cfg;
    telemetry.config_loaded(true);
    spdlog::info("config: loaded {} ({} probes)", config_path, next.probes.size());
    return true;
  }

  // The secrets of every config applied so far (bounded): an old answer
  // or an unchanged probe may still quote one. The log is redacted with
  // them before anything of the new config is logged.
  void apply_secrets(const config& next) {
    secrets = redactor::merge(secrets, next.secrets);
    set_log_secrets(secrets);
  }

  // Histories of probes no longer configured go (their open aggregates written).
  void keep_histories(const config& c) {
    std::vector<std::string> names;
    for (const auto& p : c.probes) names.push_back(p.settings.name);
    history.keep_only(names);
    keeper.record_history(history.take_closed());
  }

  // Hands the run history's ended aggregates to the keeper, every few seconds.
  asio::awaitable<void> keep_history() {
    asio::steady_timer tick(rt.io);
    for (;;) {
      tick.expires_after(history_close_period);
      boost::system::error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec || stopping) co_return;
      history.close_due(std::chrono::system_clock::now());
      keeper.record_history(history.take_closed());
    }
  }

  route_context routes() {
    return route_context{telemetry,
                         sched,
                         alert_engine,
                         keeper,
                         history,
                         host_name,
                         [this] { return ready; },
                         [this] { return current->server.enable_lifecycle; },
                         [this](reload_done done) { reload(std::move(done)); },
                         [this] { return listen_hosts{listening, current->server.allowed_hosts}; },
                         rt.ctx};
  }

  asio::awaitable<void> handle_signals() {
    for (;;) {
      boost::system::error_code ec;
      const int sig = co_await signals.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reloading {}", config_path);
        reload([](bool, const std::string&) {});
        continue;
      }
      spdlog::info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      co_await shut_down();
      co_return;
    }
  }

  // WATCHDOG=1 from the loop itself: a wedged loop stops the pings and
  // systemd restarts the daemon.
  asio::awaitable<void> feed_watchdog(std::chrono::microseconds period) {
    asio::steady_timer tick(rt.io);
    for (;;) {
      systemd.watchdog();
      tick.expires_after(period);
      boost::system::error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec || stopping) co_return;
    }
  }

  asio::awaitable<void> shut_down() {
    stopping = true;
    systemd.stopping();
    ready = false;
    if (server) server->stop();
    sched.stop();  // alert evaluation ends at its next tick (`stopping`)
    // Cancelled runs unwind on the loop (and free the pool); give them a
    // moment, never more.
    asio::steady_timer tick(rt.io);
    const auto until = steady_clock::now() + drain_limit;
    // A config still loading is dropped on the loop, with what it built.
    while ((sched.in_flight() > 0 || loading) && steady_clock::now() < until) {
      tick.expires_after(std::chrono::milliseconds(10));
      boost::system::error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    // Alert state and run history as they stand, so the next start carries
    // on from them: aggregates still open are written as they are.
    history.close_due(std::chrono::system_clock::now());
    auto rows = history.take_closed();
    for (auto& r : history.open_rows()) rows.push_back(std::move(r));
    keeper.record_history(std::move(rows));
    keeper.save(saved_alerts());
    co_await keeper.flush(final_write_limit);
    signals.cancel();
    rt.io.stop();
  }

  static retention retention_of(const state_settings& s) { return {s.max_age, s.max_incidents, s.history_max_age}; }

  std::vector<saved_alert> saved_alerts() const {
    std::map<std::string, std::string> exprs;
    for (const auto& r : alert_engine.rules()) exprs[r.name] = r.when->text();
    std::vector<saved_alert> out;
    for (auto& a : alert_engine.active()) {
      const auto e = exprs.find(a.rule);
      out.push_back({a, e == exprs.end() ? std::string() : e->second});
    }
    return out;
  }

  // Takes back what the previous run left in the state store.
  asio::awaitable<void> restore_state() {
    auto saved = co_await keeper.open(current->state.path, retention_of(current->state));
    history.restore(keeper.take_restored_history(), std::chrono::system_clock::now());
    std::map<std::string, std::string> exprs;
    std::vector<alerts::alert_instance> instances;
    for (auto& sa : saved) {
      exprs[sa.alert.rule] = sa.expr;
      instances.push_back(std::move(sa.alert));
    }
    close_incidents(alert_engine.restore(std::move(instances), exprs, alerts::wall_clock::now()),
                    "its rule changed or was removed while vitalsd was stopped");
    restored_pending = !alert_engine.active().empty();
    // Probes are scheduled and alerts carry on from where they were: ready.
    if (!stopping) {
      ready = true;
      systemd.ready(status_line());
    }
  }

  // Alerts that ended because their rule went: their incidents end too.
  void close_incidents(const std::vector<alerts::alert_instance>& gone, const char* why) {
    const auto now = alerts::wall_clock::now();
    for (const auto& a : gone) {
      if (a.incident_id <= 0) continue;
      keeper.resolve_incident(a.incident_id, now);
      spdlog::info("alert {} ended: {}", a.rule, why);
    }
  }

  // A restored alert is judged again once the probe it names has run since
  // the start (or is gone); one without a probe label, at once.
  void settle_restored() {
    if (!restored_pending) return;
    restored_pending = false;
    alert_engine.settle_restored([this](const alerts::alert_instance& a) {
      const auto p = a.label_values.find("probe");
      if (p == a.label_values.end()) return true;
      const auto st = sched.status_of(p->second);
      const bool settled = !st || st->last.has_value();
      if (!settled) restored_pending = true;
      return settled;
    });
  }

  // An alert started firing: open its incident with what its probe saw.
  void record_firing(const alerts::alert_instance& a, alerts::wall_clock::time_point now) {
    std::string json = "{}", text;
    if (const auto p = a.label_values.find("probe"); p != a.label_values.end()) {
      if (const auto st = sched.status_of(p->second); st && st->last) {
        const auto& r = st->last->result;
        json = evidence_json(st->settings.name, st->settings.type, st->target, st->last->finished_at, r.reason,
                             r.error, r.evidence);
        text = evidence_text(r.error, r.evidence);
      }
    }
    const auto id = keeper.open_incident(a, std::move(json), now);
    if (auto* live = alert_engine.find(a.rule, a.label_values)) {
      live->incident_id = id;
      live->evidence = std::move(text);
    }
  }

  // Evaluates the alert rules over what /metrics shows, the way Prometheus
  // would over a scrape, and logs every transition once.
  asio::awaitable<void> evaluate_alerts() {
    co_await restore_state();
    asio::steady_timer tick(rt.io);
    auto last_save = alerts::wall_clock::now();
    for (;;) {
      tick.expires_after(current ? current->alert_evaluation_interval : std::chrono::seconds(5));
      boost::system::error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec || stopping) co_return;
      const auto now = std::chrono::system_clock::now();
      settle_restored();
      // The series are selected and the expressions matched on the pool,
      // from a snapshot: at 10,000 probes that is tens of milliseconds the
      // loop's timers would otherwise wait. Only the judging is done here.
      const auto interval = current ? current->alert_evaluation_interval : std::chrono::milliseconds(5000);
      auto query = std::make_shared<const alerts::engine::query>(
          alert_engine.prepare(std::chrono::duration_cast<std::chrono::milliseconds>(interval)));
      auto matching = pool_call<std::vector<alerts::eval_result>>::start(
          rt.ctx, [query, now, snap = telemetry.snapshot()](const std::atomic<bool>&) {
            return alerts::engine::match(*query, alerts::select_table(*snap, query->names), now);
          });
      try {
        co_await matching->wait("alert evaluation");
      } catch (const std::exception& e) {
        spdlog::error("alerts: evaluation failed, tried again in one interval: {}", e.what());
        continue;
      }
      if (stopping) co_return;
      // A reload replaced the rules meanwhile: these matches are for rules
      // that no longer exist; the next tick evaluates the new ones.
      if (query->generation != alert_engine.generation()) continue;
      const auto changes = alert_engine.apply(matching->value(), now);
      report_rule_health();
      for (const auto& t : changes) {
        if (t.what == alerts::transition::kind::firing) record_firing(t.alert, now);
        if (t.what == alerts::transition::kind::resolved && t.alert.incident_id > 0)
          keeper.resolve_incident(t.alert.incident_id, now);
        log_transition(t);
      }
      const auto active = alert_engine.active();
      if (notify) notify->after_evaluation(changes, active, now);
      std::map<std::array<std::string, 3>, int> counts;
      for (const auto& a : active)
        ++counts[{a.rule, a.label_values.at("severity"), a.state == alerts::alert_state::firing ? "firing" : "pending"}];
      telemetry.alerts_changed(counts);
      // Transitions are saved at once; values and last-seen times once a
      // minute; while the store fails, every evaluation tries again.
      if (!changes.empty() || now - last_save >= std::chrono::minutes(1) || !keeper.healthy()) {
        keeper.save(saved_alerts());
        last_save = now;
      }
    }
  }

  // Each rule's failed evaluations and incomplete history, as metrics, and
  // in the log when they start and end (not at every evaluation).
  void report_rule_health() {
    std::vector<metrics::rule_evaluation> rules;
    std::map<std::string, std::string> problems;
    for (const auto& h : alert_engine.health()) {
      rules.push_back({h.name, !h.error.empty(), h.history_incomplete});
      std::string problem;
      if (!h.error.empty())
        problem = "evaluation failed, its alerts stay as they were: " + h.error;
      else if (h.history_incomplete)
        problem = "its range selectors read an incomplete history: alerts.max_history_series (" +
                  std::to_string(alert_engine.history_stats().max_series) + ") or alerts.max_history_samples (" +
                  std::to_string(alert_engine.history_stats().max_samples) +
                  ") is reached, so some series are left out and it may miss alerts";
      if (!problem.empty()) problems[h.name] = problem;
      const auto before = rule_problems.find(h.name);
      const std::string& was = before == rule_problems.end() ? std::string() : before->second;
      if (problem != was) {
        if (!problem.empty())
          spdlog::warn("alert rule {}: {}", h.name, problem);
        else
          spdlog::info("alert rule {}: evaluates fully again", h.name);
      }
    }
    rule_problems = std::move(problems);
    const auto size = alert_engine.history_stats();
    telemetry.rules_evaluated(rules, size.series, size.samples);
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
  std::string web_config_override;  // --web.config.file
  runtime rt;
  metrics telemetry;
  probe_history history;
  run_observers observers;
  scheduler sched;
  alerts::engine alert_engine;
  bool restored_pending = false;  // restored alerts not yet judged again
  std::map<std::string, std::string> rule_problems;  // rule -> what is wrong with its evaluation, as last logged
  state_keeper keeper;
  std::unique_ptr<notifier> notify;  // made once the daemon knows its own URL
  std::unique_ptr<http_server> server;  // made once the first config gives its limits
  asio::signal_set signals;
  std::shared_ptr<const config> current;
  redactor secrets;  // see apply_secrets
  bool ready = false;
  bool stopping = false;
  bool loading = false;                      // a config is being loaded off the loop
  std::vector<reload_done> waiting_reloads;  // asked for while loading: served by the next load
  service_notify systemd;
  std::string host_name;
  asio::ip::tcp::endpoint listening;  // as bound; POST /-/reload checks Host against it
  std::string link_url;  // this daemon's URL in alerts' links: server.external_url or the listen address
  // Last member: destroyed first, joining a load still running before
  // anything it reads goes away.
  asio::thread_pool loader{1};
};

app::app(std::string config_path, std::string web_config_file)
    : impl_(std::make_unique<impl>(std::move(config_path), std::move(web_config_file))) {}
app::~app() = default;

int app::run() {
  auto& m = *impl_;
  auto everything = m.load_everything(nullptr);
  const auto& loaded = everything.config;
  if (!loaded.cfg) {
    for (const auto& e : loaded.errors) spdlog::error("config: {}", e.str());
    return 2;
  }
  const auto& cfg = *loaded.cfg;
  m.apply_secrets(cfg);
  if (!setup_logging(cfg.log)) spdlog::warn("config: log settings not applied");

  try {
    // Limits are fixed for the process' life; they come from the first config.
    m.server = std::make_unique<http_server>(
        m.rt.io, [routes = m.routes()](const http_request& r) { return route(routes, r); },
        http_limits{.max_connections = cfg.server.max_connections,
                    .request_timeout = cfg.server.header_timeout,
                    .max_request_bytes = cfg.server.max_request_bytes},
        [&m](std::string_view reason) { m.telemetry.http_connection_dropped(reason); });
    const auto endpoint = m.server->listen(cfg.server.listen);
    m.listening = endpoint;
    m.server->on_refusal([&m](std::string_view reason) { m.telemetry.http_request_refused(reason); });
    m.secure(everything.web);
    const auto host = endpoint.address().to_string();
    const bool tls = everything.web.security && everything.web.security->tls();
    const std::string self_url = std::string(tls ? "https://" : "http://") +
                                 (endpoint.address().is_v6() ? "[" + host + "]" : host) + ":" +
                                 std::to_string(endpoint.port()) + "/";
    spdlog::info("listening on {} (metrics at /metrics)", self_url);
    char hostname[256] = {};
    ::gethostname(hostname, sizeof hostname - 1);
    m.host_name = hostname;
    m.link_url = daemon_link_url(cfg.server.external_url, endpoint, tls, m.host_name);
    m.notify = std::make_unique<notifier>(m.rt.io, m.telemetry, hostname, m.link_url);
  } catch (const std::exception& ex) {
    spdlog::error("cannot listen on {}: {}", cfg.server.listen, ex.what());
    return 1;
  }

  m.sched.apply(cfg.probes, m.secrets);
  m.keep_histories(cfg);
  m.alert_engine.set_history_limits(cfg.alert_max_history_series, cfg.alert_max_history_samples);
  m.alert_engine.set_rules(with_runbook_links(cfg.alert_rules, m.link_url));
  m.notify->configure(cfg.notifications, m.secrets);
  m.current = loaded.cfg;
  m.telemetry.config_loaded(true);
  spdlog::info("vitalsd started: {} probes from {}", cfg.probes.size(), m.config_path);

  asio::co_spawn(m.rt.io, m.handle_signals(), asio::detached);
  asio::co_spawn(m.rt.io, m.evaluate_alerts(), asio::detached);
  asio::co_spawn(m.rt.io, m.watch_web_files(), asio::detached);
  asio::co_spawn(m.rt.io, m.keep_history(), asio::detached);
  if (const auto period = m.systemd.watchdog_period())
    asio::co_spawn(m.rt.io, m.feed_watchdog(*period), asio::detached);
  ::malloc_trim(0);  // what parsing the config left behind, as after a reload
  m.rt.io.run();
  spdlog::info("vitalsd stopped");
  return 0;
}

}  // namespace vitals
