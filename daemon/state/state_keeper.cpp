#include "daemon/state/state_keeper.hpp"

#include "daemon/metrics/metrics.hpp"
#include "probes/core/time_format.hpp"
#include "probes/core/pool_call.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <set>

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
  // Touched on the pool only, by one job at a time (`writing` and
  // `loading` are never both set, and each is set by the loop).
  std::unique_ptr<state_store> store;

  // Loop thread only from here on.
  std::string store_path;
  std::deque<incident> log;  // by id, oldest first
  std::int64_t next_id = 1;
  retention keep;
  std::map<std::int64_t, incident> dirty;  // changed since the last successful write
  std::vector<saved_alert> alerts;
  bool alerts_dirty = false;
  bool writing = false;
  bool loading = false;
  // The file's contents are known. Until then nothing is written: a write
  // would replace saved alerts nobody has read and orphan their incidents.
  bool loaded = false;
  bool healthy = true;
  wall_clock::time_point last_prune{};

  // What one read of the file gives.
  struct load_result {
    bool ok = false;
    std::string problem;
    std::vector<saved_alert> alerts;
    std::vector<incident> incidents;
    std::int64_t max_id = 0;
  };

  // Runs on the pool.
  load_result load(wall_clock::time_point now, retention r) {
    load_result l;
    if (!store) store = std::make_unique<state_store>(store_path);
    auto& s = *store;
    s.prune(r, now);  // best effort: reading is what matters here
    auto a = s.load_alerts();
    auto i = a ? s.load_incidents(now - r.max_age, r.max_incidents) : std::nullopt;
    auto m = i ? s.max_incident_id() : std::nullopt;
    l.ok = a && i && m;
    if (l.ok) {
      l.alerts = std::move(*a);
      l.incidents = std::move(*i);
      l.max_id = *m;
    } else {
      l.problem = s.problem();
    }
    return l;
  }

  void trim(wall_clock::time_point now) {
    // The store's rule: incidents resolved longer than max_age ago, then
    // the oldest resolved beyond max_incidents. Whatever is still to be
    // written stays in `dirty` and is written all the same.
    const auto cutoff = now - keep.max_age;
    std::erase_if(log, [&](const incident& i) { return i.resolved && *i.resolved < cutoff; });
    std::size_t excess = log.size() > keep.max_incidents ? log.size() - keep.max_incidents : 0;
    for (auto it = log.begin(); excess > 0 && it != log.end();) {
      if (it->resolved) {
        it = log.erase(it);
        --excess;
      } else {
        ++it;
      }
    }
    // While the store fails, `dirty` grows with every change: bounded like
    // the log then (the oldest resolved go first).
    if (!healthy)
      for (auto it = dirty.begin(); dirty.size() > keep.max_incidents && it != dirty.end();)
        it = it->second.resolved ? dirty.erase(it) : std::next(it);
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

  // Takes in what a read found, next to what this run has logged.
  void merge(load_result& l) {
    std::map<std::int64_t, incident> by_id;
    for (auto& i : l.incidents) by_id.emplace(i.id, std::move(i));
    for (auto& i : log) by_id.insert_or_assign(i.id, std::move(i));
    log.clear();
    for (auto& [id, i] : by_id) log.push_back(std::move(i));
    next_id = std::max(next_id, l.max_id + 1);
    loaded = true;
  }

  // The file could not be read at start and can now: this run's alerts were
  // not restored from it, so the incidents it left open have no alert to
  // close them. They are closed now; the saved alerts are replaced.
  static void load_late(const std::shared_ptr<impl>& self) {
    self->loading = true;
    asio::co_spawn(
        self->ctx.io,
        [self]() -> asio::awaitable<void> {
          const auto now = wall_clock::now();
          const auto keep = self->keep;
          std::set<std::int64_t> ours;
          for (const auto& i : self->log) ours.insert(i.id);
          auto call = pool_call<load_result>::start(
              self->ctx, [self, now, keep](const std::atomic<bool>&) { return self->load(now, keep); });
          load_result l;
          try {
            co_await call->wait("reading the state store");
            l = std::move(call->value());
          } catch (const std::exception& e) {
            l.problem = e.what();
          }
          self->loading = false;
          if (!l.ok) {
            self->set_health(false, l.problem);
            co_return;  // tried again on the next save()
          }
          std::size_t closed = 0;
          for (auto& i : l.incidents) {
            if (i.resolved || ours.contains(i.id)) continue;
            i.resolved = now;
            self->dirty[i.id] = i;
            ++closed;
          }
          self->merge(l);
          self->alerts_dirty = true;
          spdlog::warn("state: {} is readable again; {} incident(s) an earlier run left open closed, since "
                       "their alerts could not be restored",
                       self->store_path, closed);
          pump(self);
        },
        asio::detached);
  }

  // Starts one write if there is something to write and none is running.
  static void pump(const std::shared_ptr<impl>& self) {
    if (self->writing || self->loading) return;
    if (!self->loaded) {
      load_late(self);
      return;
    }
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
    w->keep = self->keep;
    asio::co_spawn(
        self->ctx.io,
        [self, w]() -> asio::awaitable<void> {
          auto call = pool_call<bool>::start(self->ctx, [self, w](const std::atomic<bool>&) {
            w->ok = self->store->save(w->alerts, w->incidents);
            if (!w->ok) w->problem = self->store->problem();
            // Retention is housekeeping: its failure is logged, not a failed write.
            if (w->ok && w->prune && !self->store->prune(w->keep, w->now))
              spdlog::warn("state: pruning old incidents failed: {}", self->store->problem());
            return true;
          });
          try {
            co_await call->wait("state write");
          } catch (const std::exception& e) {
            w->ok = false;
            w->problem = e.what();
          }
          if (w->ok && w->prune) self->last_prune = w->now;
          if (!w->ok) {
            // Written next time, unless a newer version is already waiting.
            for (auto& i : w->incidents) self->dirty.try_emplace(i.id, std::move(i));
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
  const auto now = wall_clock::now();
  self->loading = true;
  auto call = pool_call<impl::load_result>::start(
      self->ctx, [self, now, keep](const std::atomic<bool>&) { return self->load(now, keep); });
  impl::load_result l;
  try {
    co_await call->wait("opening the state store");
    l = std::move(call->value());
  } catch (const std::exception& e) {
    l.problem = e.what();
  }
  self->loading = false;
  self->last_prune = now;
  if (!l.ok) {
    self->set_health(false, l.problem);
    // Ids that cannot collide with the file's once it is read: it will
    // be, and new ones count on from its highest then.
    self->next_id = unix_ms(now);
    co_return std::vector<saved_alert>{};
  }
  self->merge(l);
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
    if (!it->resolved) {
      it->resolved = at;
      m.dirty[id] = *it;
    }
    return;
  }
  // Not in the log (trimmed from memory while waiting to be written): the
  // copy waiting in `dirty` still carries the resolution.
  if (auto d = m.dirty.find(id); d != m.dirty.end() && !d->second.resolved) d->second.resolved = at;
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
  while ((self->writing || self->loading) && std::chrono::steady_clock::now() < until) {
    tick.expires_after(std::chrono::milliseconds(5));
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

std::vector<incident> state_keeper::incidents(wall_clock::time_point since, std::size_t limit) const {
  // Newest first while collecting, so `limit` costs no more than it keeps.
  std::vector<incident> out;
  for (auto it = impl_->log.rbegin(); it != impl_->log.rend() && out.size() < limit; ++it)
    if (!it->resolved || *it->resolved >= since) out.push_back(*it);
  std::reverse(out.begin(), out.end());
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
