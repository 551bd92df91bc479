#include "daemon/sched/scheduler.hpp"

#include "probes/core/units.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <utility>

namespace vitals {

struct scheduler::entry {
  entry(asio::io_context& io, probe_spec s, const redactor& secrets)
      : spec(std::move(s)),
        // Once: a path from the config need not be UTF-8, and a URL's
        // query may hold a secret.
        target(valid_utf8(secrets.redacted(spec.instance->target()))),
        timer(io),
        tracker({spec.settings.failure_threshold, spec.settings.success_threshold,
                 spec.settings.effective_failure_window()}) {}

  probe_spec spec;
  std::string target;  // what status() shows: valid UTF-8, redacted
  asio::steady_timer timer;
  health_tracker tracker;
  steady_clock::time_point next_due{};
  steady_clock::time_point last_due{};
  bool stopped = false;
  bool in_flight = false;
  bool run_requested = false;  // the probe asked for a run while one was in flight
  asio::cancellation_signal cancel_run;  // reaches the in-flight run
  std::optional<run_outcome> last;
  std::uint64_t runs_ok = 0, runs_failed = 0, runs_timed_out = 0, runs_skipped = 0;
};

steady_clock::time_point next_due_after(steady_clock::time_point due, steady_clock::duration interval,
                                        steady_clock::time_point now) {
  if (interval <= steady_clock::duration::zero()) return now;
  auto next = due + interval;
  if (next > now) return next;
  const auto missed = (now - due) / interval;  // whole intervals already gone
  return due + (missed + 1) * interval;
}

namespace {

run_outcome failure_of(const std::exception_ptr& failure) {
  run_outcome out;
  try {
    std::rethrow_exception(failure);
  } catch (const boost::system::system_error& ex) {
    out.result = probe_result::failure("error", ex.code().message());
  } catch (const std::exception& ex) {
    out.result = probe_result::failure("error", ex.what());
  } catch (...) {
    out.result = probe_result::failure("error", "unknown error");
  }
  return out;
}

}  // namespace

asio::awaitable<run_outcome> run_with_deadline(probe& p, std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  const auto started = steady_clock::now();
  // The run gets a cancellation signal of its own, emitted by the deadline
  // or passed on from our caller (probe removed, shutdown). Cheaper per run
  // than a parallel group of the run and the timer, with the same meaning:
  // whichever comes first, the run is cancelled and awaited to its end.
  // Shared with the timer's handler, which may run after this frame is gone.
  struct deadline_state {
    asio::cancellation_signal stop_run;
    bool timed_out = false;
    bool run_ended = false;
  };
  const auto state = std::make_shared<deadline_state>();
  asio::steady_timer deadline(executor, timeout);
  deadline.async_wait([state](const boost::system::error_code& ec) {
    if (ec || state->run_ended) return;
    state->timed_out = true;
    state->stop_run.emit(asio::cancellation_type::terminal);
  });
  const auto caller = co_await asio::this_coro::cancellation_state;
  auto caller_slot = caller.slot();  // not connected when nobody can cancel us
  if (caller_slot.is_connected())
    caller_slot.assign([s = state.get()](asio::cancellation_type type) { s->stop_run.emit(type); });

  run_outcome out;
  std::exception_ptr failure;
  try {
    out.result = co_await asio::co_spawn(executor, p.run(),
                                         asio::bind_cancellation_slot(state->stop_run.slot(), asio::use_awaitable));
  } catch (...) {
    failure = std::current_exception();
  }
  state->run_ended = true;
  deadline.cancel();
  if (caller_slot.is_connected()) caller_slot.clear();
  // Cancelled from outside (probe removed, shutdown): let the caller see it.
  if (caller.cancelled() != asio::cancellation_type::none)
    throw boost::system::system_error(asio::error::operation_aborted);
  const bool timed_out = state->timed_out;
  if (timed_out) {
    out.timed_out = true;
    out.result = probe_result::failure("timeout", "no answer within " + format_duration(timeout));
  } else if (failure) {
    out = failure_of(failure);
  }
  out.duration_seconds = std::chrono::duration<double>(steady_clock::now() - started).count();
  out.finished_at = std::chrono::system_clock::now();
  if (out.result.ok) {
    out.result.error.clear();
    out.result.reason.clear();
  } else if (out.result.reason.empty()) {
    out.result.reason = "error";
  }
  // A probe that ended its own I/O just before the deadline (probe.hpp) ran
  // out of time all the same.
  if (!out.result.ok && out.result.reason == "timeout") out.timed_out = true;
  make_valid_utf8(out.result);
  co_return out;
}

void make_valid_utf8(probe_result& result) {
  make_valid_utf8(result.error);
  make_valid_utf8(result.reason);
  for (auto& [key, text] : result.evidence) {
    make_valid_utf8(key);
    make_valid_utf8(text);
  }
  for (auto& s : result.samples)
    for (auto& [name, value] : s.labels) make_valid_utf8(value);  // names are the kind's own constants
}

void redact(probe_result& result, const redactor& secrets) {
  if (secrets.empty()) return;
  secrets.redact(result.error);
  secrets.redact(result.reason);
  for (auto& [key, text] : result.evidence) {
    secrets.redact(key);
    secrets.redact(text);
  }
  for (auto& s : result.samples)
    for (auto& [name, value] : s.labels) secrets.redact(value);
}

steady_clock::duration random_initial_offset(steady_clock::duration interval) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  if (interval <= steady_clock::duration::zero()) return {};
  std::uniform_int_distribution<steady_clock::rep> pick(0, interval.count() - 1);
  return steady_clock::duration(pick(rng));
}

steady_clock::time_point first_due(steady_clock::time_point epoch, steady_clock::time_point now,
                                   steady_clock::duration interval, steady_clock::duration offset, std::size_t phases) {
  if (interval <= steady_clock::duration::zero()) return now;
  phases = std::max<std::size_t>(phases, 1);
  const auto phase = static_cast<std::size_t>(std::clamp<steady_clock::rep>(offset.count(), 0, interval.count() - 1) *
                                              static_cast<long double>(phases) / interval.count());
  auto due = epoch + interval * static_cast<steady_clock::rep>(phase) / static_cast<steady_clock::rep>(phases);
  if (due < now) due += ((now - due) + interval - steady_clock::duration(1)) / interval * interval;
  return due;
}

scheduler::scheduler(asio::io_context& io, run_sink& sink, offset_picker pick_offset)
    : io_(io), sink_(sink), pick_offset_(pick_offset ? std::move(pick_offset) : offset_picker(random_initial_offset)) {}

scheduler::~scheduler() { stop(); }

void scheduler::apply(const std::vector<probe_spec>& probes, redactor secrets) {
  secrets_ = std::move(secrets);
  const auto now = steady_clock::now();
  if (!epoch_) epoch_ = now;
  phases_ = std::max<std::size_t>(1, probes.size() / probes_per_phase);
  std::map<std::string, std::shared_ptr<entry>, std::less<>> next;
  for (const auto& spec : probes) {
    auto it = entries_.find(spec.settings.name);
    if (it != entries_.end() && it->second->spec.fingerprint == spec.fingerprint) {
      next.emplace(spec.settings.name, it->second);  // unchanged: keeps timer, thresholds, last result
      entries_.erase(it);
      continue;
    }
    if (it != entries_.end()) {
      retire(it->second);
      entries_.erase(it);
    }
    auto e = std::make_shared<entry>(io_, spec, secrets_);
    next.emplace(spec.settings.name, e);
    sink_.probe_added(e->spec.settings);
    start(e, now);
  }
  for (auto& [name, e] : entries_) retire(e);  // left over: removed from the config
  entries_ = std::move(next);
}

void scheduler::stop() {
  for (auto& [name, e] : entries_) {
    e->stopped = true;
    e->timer.cancel();
    if (e->in_flight) e->cancel_run.emit(asio::cancellation_type::terminal);
  }
}

void scheduler::retire(const std::shared_ptr<entry>& e) {
  e->stopped = true;
  e->timer.cancel();
  if (e->in_flight) e->cancel_run.emit(asio::cancellation_type::terminal);
  sink_.probe_removed(e->spec.settings);
}

void scheduler::start(const std::shared_ptr<entry>& e, steady_clock::time_point now) {
  const auto interval = e->spec.settings.interval;
  e->next_due = first_due(*epoch_, now, interval, pick_offset_(interval), phases_);
  // A stopped entry may outlive the scheduler while a run unwinds: `this`
  // is used only while the entry is scheduled.
  e->spec.instance->set_run_requester([this, weak = std::weak_ptr<entry>(e)] {
    if (auto requested = weak.lock(); requested && !requested->stopped) on_run_request(requested);
  });
  wait_for_due(e);
}

void scheduler::on_run_request(const std::shared_ptr<entry>& e) {
  if (e->in_flight) {
    e->run_requested = true;  // run_once() starts it when this one is done
    return;
  }
  launch(e);
}

void scheduler::launch(const std::shared_ptr<entry>& e) {
  e->in_flight = true;  // set first: a run that ends inside co_spawn clears it
  try {
    asio::co_spawn(io_, run_once(e), asio::bind_cancellation_slot(e->cancel_run.slot(), asio::detached));
  } catch (const std::exception& ex) {
    // In practice only an allocation failing, on a due time or a probe's own
    // request: this run is lost, and later ones must not count as skipped.
    e->in_flight = false;
    spdlog::error("probe {}: a run could not be started: {}", e->spec.settings.name, ex.what());
  }
}

steady_clock::duration scheduler::current_interval(const entry& e) const {
  const auto& s = e.spec.settings;
  if (s.unhealthy_interval && e.tracker.up() == false) return *s.unhealthy_interval;
  return s.interval;
}

void scheduler::wait_for_due(std::shared_ptr<entry> e) {
  if (e->stopped) return;
  const auto due = e->next_due;
  e->timer.expires_at(due);
  try {
    e->timer.async_wait([this, e, due](const boost::system::error_code& ec) mutable {
      // Stopped: the timer was cancelled for good, and the scheduler may be gone.
      if (e->stopped) return;
      // Cancelled to re-plan (the unhealthy interval began or ended): wait for
      // the time planned now, even when it is the one waited for, which has
      // not come yet.
      if (ec == asio::error::operation_aborted) return wait_for_due(std::move(e));
      on_due(std::move(e), due);
    });
  } catch (const std::exception& ex) {
    // In practice only an allocation failing. Thrown from a timer handler it
    // would reach io.run() and stop the daemon; this probe alone stops.
    spdlog::error("probe {}: no further runs are scheduled: {}", e->spec.settings.name, ex.what());
  }
}

void scheduler::on_due(std::shared_ptr<entry> e, steady_clock::time_point due) {
  // Re-planned just as the timer fired: wait for the new time.
  if (e->next_due == due) {
    const auto now = steady_clock::now();
    try {
      sink_.scheduler_lag(std::chrono::duration<double>(now - e->next_due).count());
      if (e->in_flight) {
        ++e->runs_skipped;
        sink_.run_skipped(e->spec.settings);
      } else {
        launch(e);
      }
    } catch (const std::exception& ex) {
      // Recording the lag or the skip failed (in practice an allocation):
      // the probe's schedule and the daemon go on.
      spdlog::error("probe {}: a due time could not be recorded: {}", e->spec.settings.name, ex.what());
    }
    e->last_due = e->next_due;
    e->next_due = next_due_after(e->next_due, current_interval(*e), now);
  }
  wait_for_due(std::move(e));
}

asio::awaitable<void> scheduler::run_once(std::shared_ptr<entry> e) {
  std::optional<run_outcome> out;
  try {
    out = co_await run_with_deadline(*e->spec.instance, e->spec.settings.timeout);
  } catch (const std::exception&) {
    // Cancelled because the probe was removed or the daemon is stopping.
  }
  e->in_flight = false;
  if (e->stopped || !out) co_return;
  redact(out->result, secrets_);

  if (out->timed_out) ++e->runs_timed_out;
  else if (out->result.ok) ++e->runs_ok;
  else ++e->runs_failed;

  const auto interval_before = current_interval(*e);
  if (e->tracker.record(out->result.ok)) {
    const bool up = e->tracker.up().value_or(true);
    if (up) spdlog::info("probe {} is up", e->spec.settings.name);
    else spdlog::warn("probe {} is down: {}", e->spec.settings.name, out->result.error);
  }
  e->last = std::move(*out);
  sink_.run_finished(e->spec.settings, *e->last, e->tracker.up());
  // The sink (the metrics layer) keeps the kind's samples; the outcome kept
  // here serves the API, which shows the error and evidence but not them.
  // At 10,000 probes a second copy would cost about 9 MiB. Swapped out, not
  // assigned `{}`: that empties the vector but keeps its buffer.
  std::vector<sample>().swap(e->last->result.samples);

  // Entering or leaving the unhealthy interval: re-plan from the last due time.
  if (current_interval(*e) != interval_before) {
    e->next_due = next_due_after(e->last_due, current_interval(*e), steady_clock::now());
    e->timer.cancel();
  }
  // Asked for while this run was in flight: posted, so that this run has
  // let go of the cancellation slot before the next one takes it.
  if (std::exchange(e->run_requested, false)) {
    asio::post(io_, [this, e] {
      if (!e->stopped && !e->in_flight) launch(e);
    });
  }
}

namespace {
probe_status status_from(const auto& e) {
  probe_status s;
  s.settings = e.spec.settings;
  s.target = e.target;
  s.up = e.tracker.up();
  s.last = e.last;
  s.in_flight = e.in_flight;
  s.runs_ok = e.runs_ok;
  s.runs_failed = e.runs_failed;
  s.runs_timed_out = e.runs_timed_out;
  s.runs_skipped = e.runs_skipped;
  return s;
}
}  // namespace

std::vector<probe_status> scheduler::status() const {
  std::vector<probe_status> out;
  out.reserve(entries_.size());
  for (const auto& [name, e] : entries_) out.push_back(status_from(*e));
  return out;
}

std::optional<probe_status> scheduler::status_of(std::string_view name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return status_from(*it->second);
}

std::size_t scheduler::in_flight() const {
  std::size_t n = 0;
  for (const auto& [name, e] : entries_) n += e->in_flight ? 1 : 0;
  return n;
}

}  // namespace vitals
