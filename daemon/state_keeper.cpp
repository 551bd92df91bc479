#include "daemon/state_keeper.hpp"

#include "daemon/metrics.hpp"
#include "daemon/time_format.hpp"
#include "probes/pool_call.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>

namespace vitals {

namespace json = boost::json;
using alerts::wall_clock;

namespace {
constexpr auto prune_every = std::chrono::hours(1);
}

struct state_keeper::impl {
  impl(asio::io_context& io, asio::thread_pool& pool, metrics& m) : ctx{io, pool}, telemetry(m) {}

  probe_context ctx;
  metrics& telemetry;
  // Touched on the pool only, by one job at a time (`writing` guards it).
  std::unique_ptr<state_store> store;

  // Loop thread only from here on.
  std::deque<incident> log;  // oldest first
  std::int64_t next_id = 1;
  retention keep;
  std::map<std::int64_t, incident> dirty;  // changed since the last successful write
  std::vector<saved_alert> alerts;
  bool alerts_dirty = false;
  bool writing = false;
  bool healthy = true;
  bool opened = false;
  wall_clock::time_point last_prune{};

  void trim(wall_clock::time_point now) {
    // The same rule as the store's prune: resolved incidents past max_age,
    // then the oldest resolved beyond max_incidents.
    const auto cutoff = now - keep.max_age;
    std::erase_if(log, [&](const incident& i) { return i.resolved && i.started < cutoff; });
    std::size_t excess = log.size() > keep.max_incidents ? log.size() - keep.max_incidents : 0;
    for (auto it = log.begin(); excess > 0 && it != log.end();) {
      if (it->resolved) {
        dirty.erase(it->id);
        it = log.erase(it);
        --excess;
      } else {
        ++it;
      }
    }
  }

  void set_health(bool ok, const std::string& problem) {
    if (ok == healthy) return;
    healthy = ok;
    telemetry.state_store_health(ok);
    if (ok)
      spdlog::warn("state: {} is writable again; alerts and incidents are saved", store_path);
    else
      spdlog::error("state: {} — STATE STORE FAILING: alerts and incidents are kept in memory only and "
                    "will be lost on restart until it works again",
                    problem);
  }

  std::string store_path;

  // Starts one write if there is something to write and none is running.
  static void pump(const std::shared_ptr<impl>& self) {
    if (self->writing || !self->opened) return;
    if (!self->alerts_dirty && self->dirty.empty()) return;
    self->writing = true;
    struct job {
      std::vector<saved_alert> alerts;
      std::vector<incident> incidents;
      bool prune = false;
      retention keep;
      wall_clock::time_point now;
      bool ok = false;
      std::string problem;
    };
    auto w = std::make_shared<job>();
    w->alerts = self->alerts;
    for (auto& [id, i] : self->dirty) w->incidents.push_back(i);
    self->dirty.clear();
    self->alerts_dirty = false;
    w->now = wall_clock::now();
    w->prune = w->now - self->last_prune >= prune_every;
    if (w->prune) self->last_prune = w->now;
    w->keep = self->keep;
    asio::co_spawn(
        self->ctx.io,
        [self, w]() -> asio::awaitable<void> {
          auto call = pool_call<bool>::start(self->ctx, [self, w](const std::atomic<bool>&) {
            w->ok = self->store->save(w->alerts, w->incidents);
            if (w->ok && w->prune) w->ok = self->store->prune(w->keep, w->now).has_value();
            if (!w->ok) w->problem = self->store->problem();
            return true;
          });
          co_await call->wait("state write");
          if (!w->ok) {
            // Written next time, unless a newer version is already waiting
            // or the incident has left the log meanwhile.
            for (auto& i : w->incidents)
              if (!self->dirty.contains(i.id) &&
                  std::any_of(self->log.begin(), self->log.end(), [&](const incident& l) { return l.id == i.id; }))
                self->dirty.emplace(i.id, std::move(i));
            self->alerts_dirty = true;
          }
          self->set_health(w->ok, w->problem);
          self->writing = false;
          // A failing store is retried on the next save(), not in a loop.
          if (w->ok) pump(self);
        },
        asio::detached);
  }
};

state_keeper::state_keeper(asio::io_context& io, asio::thread_pool& pool, metrics& m)
    : impl_(std::make_shared<impl>(io, pool, m)) {
  m.state_store_health(true);
}

state_keeper::~state_keeper() = default;

asio::awaitable<std::vector<saved_alert>> state_keeper::open(std::string path, retention keep) {
  auto self = impl_;
  self->keep = keep;
  self->store_path = path;
  struct loaded {
    bool ok = false;
    std::string problem;
    std::vector<saved_alert> alerts;
    std::vector<incident> incidents;
  };
  const auto now = wall_clock::now();
  auto call = pool_call<loaded>::start(self->ctx, [self, path, keep, now](const std::atomic<bool>&) {
    loaded l;
    self->store = std::make_unique<state_store>(path);
    auto& s = *self->store;
    s.prune(keep, now);
    auto alerts = s.load_alerts();
    auto incidents = alerts ? s.load_incidents(now - keep.max_age, keep.max_incidents) : std::nullopt;
    l.ok = alerts && incidents;
    if (l.ok) {
      l.alerts = std::move(*alerts);
      l.incidents = std::move(*incidents);
    } else {
      l.problem = s.problem();
    }
    return l;
  });
  co_await call->wait("opening the state store");
  auto& l = call->value();
  self->opened = true;
  self->last_prune = now;
  if (!l.ok) {
    self->set_health(false, l.problem);
    // The ids of a log we could not read are unknown; start past anything
    // a working file could hold soon, so ids never collide when it returns.
    self->next_id = unix_ms(now);
    co_return std::vector<saved_alert>{};
  }
  self->log.assign(std::make_move_iterator(l.incidents.begin()), std::make_move_iterator(l.incidents.end()));
  // Incidents older than what was loaded keep their ids: count on from the
  // highest id ever stored, which the newest loaded one is.
  for (const auto& i : self->log) self->next_id = std::max(self->next_id, i.id + 1);
  for (const auto& a : l.alerts) self->next_id = std::max(self->next_id, a.alert.incident_id + 1);
  spdlog::info("state: {} — {} saved alert(s), {} incident(s) in the last {}h", path, l.alerts.size(),
               self->log.size(), std::chrono::duration_cast<std::chrono::hours>(keep.max_age).count());
  co_return std::move(l.alerts);
}

void state_keeper::set_retention(retention keep) { impl_->keep = keep; }

std::int64_t state_keeper::open_incident(const alerts::alert_instance& a, std::string evidence,
                                         wall_clock::time_point at) {
  auto& m = *impl_;
  incident i;
  i.id = m.next_id++;
  i.alertname = a.rule;
  const auto sev = a.label_values.find("severity");
  i.severity = sev == a.label_values.end() ? "" : sev->second;
  for (const auto& [k, v] : a.label_values)
    if (k != "alertname" && k != "severity") i.labels[k] = v;
  i.started = at;
  i.summary = a.summary;
  i.runbook_url = a.runbook_url;
  i.evidence_json = std::move(evidence);
  m.dirty[i.id] = i;
  m.log.push_back(std::move(i));
  m.trim(at);
  return m.next_id - 1;
}

void state_keeper::resolve_incident(std::int64_t id, wall_clock::time_point at) {
  auto& m = *impl_;
  for (auto it = m.log.rbegin(); it != m.log.rend(); ++it) {
    if (it->id != id) continue;
    it->resolved = at;
    m.dirty[id] = *it;
    return;
  }
}

void state_keeper::save(std::vector<saved_alert> active) {
  impl_->alerts = std::move(active);
  impl_->alerts_dirty = true;
  impl_->trim(wall_clock::now());
  impl::pump(impl_);
}

asio::awaitable<void> state_keeper::flush(std::chrono::milliseconds limit) {
  auto self = impl_;
  const auto until = std::chrono::steady_clock::now() + limit;
  asio::steady_timer tick(self->ctx.io);
  // Each finished write starts the next if more is waiting, unless it
  // failed: then there is no point in trying again before `limit`.
  impl::pump(self);
  while (self->writing && std::chrono::steady_clock::now() < until) {
    tick.expires_after(std::chrono::milliseconds(5));
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

std::vector<incident> state_keeper::incidents(wall_clock::time_point since) const {
  std::vector<incident> out;
  for (const auto& i : impl_->log)
    if (i.started >= since) out.push_back(i);
  return out;
}

bool state_keeper::healthy() const { return impl_->healthy; }

std::string evidence_json(const std::string& probe, const std::string& kind, const std::string& target,
                          wall_clock::time_point checked_at, const std::string& reason, const std::string& cause,
                          const std::vector<std::pair<std::string, std::string>>& items) {
  json::object o;
  o["probe"] = probe;
  o["kind"] = kind;
  o["target"] = target;
  o["checked_at"] = rfc3339(checked_at);
  o["reason"] = reason;
  o["cause"] = cause;
  json::object ev;
  for (const auto& [k, v] : items) ev[k] = v;
  o["evidence"] = std::move(ev);
  return json::serialize(o);
}

std::string evidence_text(const std::string& cause, const std::vector<std::pair<std::string, std::string>>& items) {
  std::string out;
  if (!cause.empty()) out = "cause: " + cause;
  for (const auto& [k, v] : items) out += (out.empty() ? "" : "\n") + k + ": " + v;
  return out;
}

std::string incidents_json(const std::vector<incident>& list) {
  json::array items;
  for (const auto& i : list) {
    json::object o;
    o["id"] = i.id;
    o["alertname"] = i.alertname;
    o["severity"] = i.severity;
    json::object labels;
    for (const auto& [k, v] : i.labels) labels[k] = v;
    o["labels"] = std::move(labels);
    o["started"] = rfc3339(i.started);
    o["resolved"] = i.resolved ? json::value(rfc3339(*i.resolved)) : json::value(nullptr);
    const auto end = i.resolved.value_or(wall_clock::now());
    o["duration_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(end - i.started).count();
    o["summary"] = i.summary;
    o["runbook_url"] = i.runbook_url;
    boost::system::error_code ec;
    auto evidence = json::parse(i.evidence_json, ec);
    o["evidence"] = ec ? json::value(json::object{}) : std::move(evidence);
    items.push_back(std::move(o));
  }
  return json::serialize(json::object{{"incidents", std::move(items)}});
}

}  // namespace vitals
