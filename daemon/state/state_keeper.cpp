#include "daemon/state/state_keeper.hpp"

#include "daemon/metrics/metrics.hpp"
#include "daemon/state/incident_log.hpp"
#include "daemon/state/write_plan.hpp"
#include "probes/core/pool_call.hpp"
#include "probes/core/time_format.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <deque>
#include <map>
#include <spdlog/spdlog.h>

namespace vitals {

namespace json = boost::json;
using alerts::wall_clock;

struct state_keeper::impl {
  impl(asio::io_context& io, asio::thread_pool& pool, metrics& m) : ctx{io, pool}, telemetry(m) {}

  probe_context ctx;
  metrics& telemetry;
  // Touched on the pool only, by one job at a time (the plan runs one read
  // or write at a time, and only the loop starts them).
  std::unique_ptr<state_store> store;

  // Loop thread only from here on.
  std::string store_path;
  retention keep;
  incident_log log;  // what the API serves
  write_plan plan;   // what is still to be written, and when
  std::vector<history_row> restored_history;  // read by open()

  // History reads wait for the store between writes, one at a time.
  struct history_read {
    std::string probe;
    std::chrono::seconds step;
    wall_clock::time_point since;
    std::function<void(history_answer)> done;
  };
  std::deque<history_read> reads;
  bool reading_history = false;

  // What one read of the file gives.
  struct load_result {
    bool ok = false;
    std::string problem;
    std::vector<saved_alert> alerts;
    std::vector<incident> incidents;
    std::int64_t max_id = 0;
    std::vector<history_row> history;
    std::optional<std::string> exposure;  // see exposure_warning()
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
    auto h = m ? s.load_recent_history(now) : std::nullopt;
    l.ok = a && i && m && h;
    if (l.ok) {
      l.alerts = std::move(*a);
      l.incidents = std::move(*i);
      l.max_id = *m;
      l.history = std::move(*h);
    } else {
      l.problem = s.problem();
    }
    return l;
  }

  void trim(wall_clock::time_point now) {
    // Whatever is still to be written stays in the plan and is written all
    // the same; the plan bounds itself while the store fails.
    log.trim(keep, now);
    plan.bound_while_failing(keep.max_incidents);
  }

  // Logs and publishes the store's health after the plan says it changed.
  void health_changed(const std::string& problem) {
    telemetry.state_store_health(plan.healthy());
    if (plan.healthy())
      spdlog::warn("state: {} is writable again; alerts and incidents are saved", store_path);
    else
      spdlog::error("state: {} — STATE STORE FAILING: alerts and incidents are kept in memory only and "
                    "will be lost on restart until it works again",
                    problem);
  }

  // The file could not be read at start and can now: this run's alerts were
  // not restored from it, so the incidents it left open have no alert to
  // close them. They are closed now; the saved alerts are replaced.
  static void load_late(const std::shared_ptr<impl>& self) {
    self->plan.read_started();
    asio::co_spawn(
        self->ctx.io,
        [self]() -> asio::awaitable<void> {
          const auto now = wall_clock::now();
          const auto keep = self->keep;
          const auto ours = self->log.ids();
          auto call = pool_call<load_result>::start(
              self->ctx, [self, now, keep](const std::atomic<bool>&) { return self->load(now, keep); });
          load_result l;
          try {
            co_await call->wait("reading the state store");
            l = std::move(call->value());
          } catch (const std::exception& e) {
            l.problem = e.what();
          }
          if (self->plan.read_finished(l.ok)) self->health_changed(l.problem);
          if (!l.ok) {
            start_waiting_read(self);
            co_return;  // tried again on the next save()
          }
          const auto closed = close_orphans(l.incidents, ours, now).size();
          self->log.merge(std::move(l.incidents), l.max_id);
          // The file may not be the one written so far (it was deleted,
          // replaced or unreadable): everything held in memory goes into it.
          for (const auto& i : self->log.recent(wall_clock::time_point::min())) self->plan.incident_changed(i);
          self->plan.rewrite_alerts();
          spdlog::warn("state: {} read again; all {} incident(s) in memory are written to it ({} an earlier run "
                       "left open closed, since their alerts could not be restored)",
                       self->store_path, self->log.size(), closed);
          pump(self);
        },
        asio::detached);
  }

  // A history read, between writes (they share the connection).
  static void read_history(const std::shared_ptr<impl>& self) {
    self->reading_history = true;
    auto r = std::make_shared<history_read>(std::move(self->reads.front()));
    self->reads.pop_front();
    asio::co_spawn(
        self->ctx.io,
        [self, r]() mutable -> asio::awaitable<void> {
          history_answer answer;
          auto call = pool_call<std::optional<std::vector<history_bucket>>>::start(
              self->ctx, [self, r](const std::atomic<bool>&) -> std::optional<std::vector<history_bucket>> {
                if (!self->store) return std::nullopt;
                return self->store->load_history(r->probe, r->step, r->since);
              });
          std::optional<std::vector<history_bucket>> stored;
          try {
            co_await call->wait("reading history");
            stored = std::move(call->value());
            if (!stored) answer.problem = self->store ? self->store->problem() : "the state store is not open yet";
          } catch (const std::exception& e) {
            answer.problem = e.what();
          }
          answer.complete = stored.has_value();
          // No write ran during the read: what the plan holds now (rows
          // handed over meanwhile included) is exactly what the file lacks.
          const auto waiting = self->plan.history_waiting(r->probe, static_cast<std::int32_t>(r->step.count()),
                                                          unix_ms(r->since));
          std::map<std::int64_t, history_bucket> by_start;
          if (stored)
            for (auto& b : *stored) by_start[b.start_ms] = b;
          for (auto& b : waiting) by_start[b.start_ms] = b;  // the newer version
          for (auto& [start, b] : by_start) answer.buckets.push_back(b);
          self->reading_history = false;
          try {
            r->done(std::move(answer));
          } catch (const std::exception& e) {
            spdlog::error("state: answering a history read failed: {}", e.what());
          }
          // What waited for this read goes on; a file never read is tried
          // again by the next save, as always, not by a reader.
          if (self->plan.read_once())
            pump(self);
          else
            start_waiting_read(self);
        },
        asio::detached);
  }

  // Starts the next history read when the store is free; true if it did.
  static bool start_waiting_read(const std::shared_ptr<impl>& self) {
    if (self->reading_history || self->plan.busy() || self->reads.empty()) return false;
    read_history(self);
    return true;
  }

  // Starts what the plan says: a read, one write, or nothing.
  // Writes go first: reads (a page asks for three) take their turns
  // between them and can never hold the saving of alerts off.
  static void pump(const std::shared_ptr<impl>& self) {
    if (self->reading_history) return;
    switch (self->plan.next()) {
      case write_plan::step::none: start_waiting_read(self); return;
      case write_plan::step::read: load_late(self); return;
      case write_plan::step::write: break;
    }
    struct job {
      write_plan::write_job what;
      retention keep;
      bool ok = false;
      bool lost = false;  // the file is no longer the one at its path
      std::string problem;
    };
    auto w = std::make_shared<job>();
    w->what = self->plan.start_write(wall_clock::now());
    w->keep = self->keep;
    asio::co_spawn(
        self->ctx.io,
        [self, w]() -> asio::awaitable<void> {
          auto call = pool_call<bool>::start(self->ctx, [self, w](const std::atomic<bool>&) {
            w->ok = self->store->save(w->what.alerts, w->what.incidents, w->what.history);
            if (!w->ok) w->problem = self->store->problem();
            // Retention is housekeeping: its failure is logged, not a failed write.
            if (w->ok && w->what.prune && !self->store->prune(w->keep, w->what.now))
              spdlog::warn("state: pruning old incidents failed: {}", self->store->problem());
            w->lost = self->store->lost_file();
            if (w->lost) w->problem = self->store->problem();
            return true;
          });
          try {
            co_await call->wait("state write");
          } catch (const std::exception& e) {
            w->ok = false;
            w->problem = e.what();
          }
          if (self->plan.write_finished(std::move(w->what), w->ok)) self->health_changed(w->problem);
          // A lost file is read again at once, so that everything is written
          // back while it is still in memory; a failing store is retried on
          // the next save(), not in a loop.
          if (w->lost && self->plan.file_lost()) self->health_changed(w->problem);
          if (w->ok || w->lost)
            pump(self);
          else
            start_waiting_read(self);  // readers get what is in memory and the file's problem
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
  self->plan.read_started();
  auto call = pool_call<impl::load_result>::start(
      self->ctx, [self, now, keep, path](const std::atomic<bool>&) {
        auto l = self->load(now, keep);
        l.exposure = exposure_warning(path);  // after load() made the file, so its mode is the one it keeps
        return l;
      });
  impl::load_result l;
  try {
    co_await call->wait("opening the state store");
    l = std::move(call->value());
  } catch (const std::exception& e) {
    l.problem = e.what();
  }
  // Once, at start: the modes are not the daemon's to change (state_file.hpp).
  if (l.exposure) spdlog::warn("state: {}", *l.exposure);
  const bool health_changed = self->plan.read_finished(l.ok);
  self->plan.pruned_at(now);  // load() pruned
  impl::start_waiting_read(self);  // history asked for while the file was read
  if (!l.ok) {
    if (health_changed) self->health_changed(l.problem);
    // Ids that cannot collide with the file's once it is read: it will
    // be, and new ones count on from its highest then.
    self->log.next_id_at_least(unix_ms(now));
    co_return std::vector<saved_alert>{};
  }
  self->log.merge(std::move(l.incidents), l.max_id);
  self->restored_history = std::move(l.history);
  for (const auto& a : l.alerts) self->log.next_id_at_least(a.alert.incident_id + 1);
  spdlog::info("state: {} — {} saved alert(s), {} incident(s) in the last {}h", path, l.alerts.size(),
               self->log.size(), std::chrono::duration_cast<std::chrono::hours>(keep.max_age).count());
  co_return std::move(l.alerts);
}

void state_keeper::set_retention(retention keep) { impl_->keep = keep; }

std::int64_t state_keeper::open_incident(const alerts::alert_instance& a, std::string evidence,
                                         wall_clock::time_point at) {
  auto& m = *impl_;
  const auto& i = m.log.open(a, std::move(evidence), at);
  const auto id = i.id;
  m.plan.incident_changed(i);
  m.trim(at);
  return id;
}

void state_keeper::resolve_incident(std::int64_t id, wall_clock::time_point at) {
  auto& m = *impl_;
  if (auto* i = m.log.find(id)) {
    if (!i->resolved) {
      i->resolved = at;
      m.plan.incident_changed(*i);
    }
    return;
  }
  // Not in the log (trimmed from memory while waiting to be written): the
  // copy waiting in the plan still carries the resolution.
  m.plan.resolve_waiting(id, at);
}

void state_keeper::save(std::vector<saved_alert> active) {
  impl_->plan.alerts_changed(std::move(active));
  impl_->trim(wall_clock::now());
  impl::pump(impl_);
}

void state_keeper::record_history(std::vector<history_row> rows) {
  if (rows.empty()) return;
  impl_->plan.history_closed(std::move(rows));
  impl_->plan.bound_while_failing(impl_->keep.max_incidents);
  impl::pump(impl_);
}

std::vector<history_row> state_keeper::take_restored_history() { return std::exchange(impl_->restored_history, {}); }

void state_keeper::read_history(std::string probe, std::chrono::seconds step, wall_clock::time_point since,
                                std::function<void(history_answer)> done) const {
  impl_->reads.push_back({std::move(probe), step, since, std::move(done)});
  impl::pump(impl_);
}

asio::awaitable<void> state_keeper::flush(std::chrono::milliseconds limit) {
  auto self = impl_;
  const auto until = std::chrono::steady_clock::now() + limit;
  asio::steady_timer tick(self->ctx.io);
  // Each finished write starts the next if more is waiting, unless it
  // failed: then there is no point in trying again before `limit`.
  impl::pump(self);
  while ((self->plan.busy() || self->reading_history) && std::chrono::steady_clock::now() < until) {
    tick.expires_after(std::chrono::milliseconds(5));
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

std::vector<incident> state_keeper::incidents(wall_clock::time_point since, std::size_t limit) const {
  return impl_->log.recent(since, limit);
}

bool state_keeper::healthy() const { return impl_->plan.healthy(); }

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
    auto evidence = json::parse(valid_utf8(i.evidence_json), ec);  // older rows may hold raw bytes
    o["evidence"] = ec ? json::value(json::object{}) : std::move(evidence);
    items.push_back(std::move(o));
  }
  return json::serialize(json::object{{"incidents", std::move(items)}});
}

}  // namespace vitals
