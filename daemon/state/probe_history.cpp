#include "daemon/state/probe_history.hpp"

#include "probes/core/time_format.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vitals {

namespace {

using fold = history_key::fold;

constexpr history_key redis_keys[] = {
    {"memory_used_bytes", "memory used", "bytes", "vitals_redis_used_memory_bytes", fold::last},
    {"memory_limit_bytes", "maxmemory", "bytes", "vitals_redis_maxmemory_bytes", fold::last},
};
constexpr history_key postgres_keys[] = {
    {"connections", "sessions", "", "vitals_postgres_connections", fold::last},
    {"max_connections", "max_connections", "", "vitals_postgres_max_connections", fold::last},
    {"idle_in_transaction_max_seconds", "oldest idle in transaction", "seconds",
     "vitals_postgres_idle_in_transaction_max_seconds", fold::max},
};
constexpr history_key process_keys[] = {
    {"rss_bytes", "RSS", "bytes", "vitals_process_rss_bytes", fold::last},
    {"rss_growth_bytes_per_second", "RSS growth", "bytes/s", "vitals_process_rss_growth_bytes_per_second", fold::last},
    {"matches", "processes", "", "vitals_process_matches", fold::last},
};
constexpr history_key disk_keys[] = {
    {"free_bytes", "free", "bytes", "vitals_disk_free_bytes", fold::last},
    {"size_bytes", "size", "bytes", "vitals_disk_size_bytes", fold::last},
};
constexpr history_key sqlite_keys[] = {
    {"locked", "writer lock held", "", "vitals_sqlite_locked", fold::max},
    {"lock_held_seconds", "lock held for", "seconds", "vitals_sqlite_lock_held_seconds", fold::max},
};
constexpr history_key websocket_keys[] = {
    {"roundtrip_seconds", "roundtrip", "seconds", "vitals_websocket_roundtrip_seconds", fold::last},
};
constexpr history_key http_keys[] = {
    {"status_code", "status", "", "vitals_http_status_code", fold::last},
};
constexpr history_key log_keys[] = {
    {"matches", "matching lines", "", "vitals_log_matches_total", fold::increase},
};

struct kind_keys {
  std::string_view kind;
  std::span<const history_key> keys;
};
constexpr kind_keys all_keys[] = {
    {"redis", redis_keys},   {"postgres", postgres_keys},   {"process", process_keys}, {"disk", disk_keys},
    {"sqlite", sqlite_keys}, {"websocket", websocket_keys}, {"http", http_keys},       {"log", log_keys},
};
static_assert(std::size(postgres_keys) <= max_history_keys && std::size(process_keys) <= max_history_keys);

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

std::int64_t ms_of(std::chrono::system_clock::time_point t) { return unix_ms(t); }

std::int64_t bucket_start(std::int64_t ms, std::chrono::seconds step) {
  const std::int64_t s = step.count() * 1000;
  return ms >= 0 ? ms - ms % s : ms - (s + ms % s) % s;
}

constexpr std::int64_t hour_ms = 3'600'000;
constexpr std::int64_t week_ms = 7 * 24 * hour_ms;

}  // namespace

std::string_view run_end_name(run_end e) {
  switch (e) {
    case run_end::ok: return "ok";
    case run_end::failed: return "failed";
    case run_end::timed_out: return "timed_out";
    case run_end::skipped: return "skipped";
  }
  return "ok";
}

std::span<const history_key> history_keys(std::string_view kind) {
  for (const auto& k : all_keys)
    if (k.kind == kind) return k.keys;
  return {};
}

key_values read_key_values(std::string_view kind, const std::vector<sample>& samples) {
  auto out = history_bucket::nan_keys();
  const auto keys = history_keys(kind);
  for (const auto& s : samples)
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (s.name == keys[i].metric && std::isfinite(s.value)) out[i] = std::isnan(out[i]) ? s.value : out[i] + s.value;
  return out;
}

const history_tier& tier_for(std::chrono::seconds range) {
  for (const auto& t : history_tiers)
    if (range <= t.keep) return t;
  return history_tiers.back();
}

key_values history_bucket::nan_keys() { return {nan, nan, nan}; }

namespace {

double fold_value(fold how, double old_value, double new_value) {
  if (std::isnan(new_value)) return old_value;
  if (std::isnan(old_value)) return new_value;
  switch (how) {
    case fold::last: return new_value;
    case fold::max: return std::max(old_value, new_value);
    case fold::increase: return old_value + new_value;
  }
  return new_value;
}

}  // namespace

void history_bucket::add(run_end end, double duration, const key_values& values, std::string_view kind) {
  if (end == run_end::skipped) {
    ++skipped;
    return;
  }
  duration_min = runs ? std::min(duration_min, duration) : duration;
  duration_max = runs ? std::max(duration_max, duration) : duration;
  duration_sum += duration;
  ++runs;
  if (end == run_end::failed) ++failed;
  if (end == run_end::timed_out) ++timed_out;
  const auto ks = history_keys(kind);
  for (std::size_t i = 0; i < ks.size(); ++i) keys[i] = fold_value(ks[i].how, keys[i], values[i]);
}

void history_bucket::merge(const history_bucket& other, std::string_view kind) {
  if (other.runs) {
    duration_min = runs ? std::min(duration_min, other.duration_min) : other.duration_min;
    duration_max = runs ? std::max(duration_max, other.duration_max) : other.duration_max;
    duration_sum += other.duration_sum;
  }
  runs += other.runs;
  failed += other.failed;
  timed_out += other.timed_out;
  skipped += other.skipped;
  const auto ks = history_keys(kind);
  for (std::size_t i = 0; i < ks.size(); ++i) keys[i] = fold_value(ks[i].how, keys[i], other.keys[i]);
}

probe_history::stored_run::stored_run(std::int64_t at, float duration, run_end e)
    : end(e), duration_seconds(duration) {
  constexpr std::int64_t limit = std::int64_t{1} << 47;
  at = std::clamp(at, -limit, limit - 1);
  at_low = static_cast<std::uint32_t>(at & 0xffffffff);
  at_high = static_cast<std::int16_t>(at >> 32);
}

void probe_history::probe_added(const probe_settings& s) {
  auto it = probes_.find(s.name);
  if (it == probes_.end()) it = probes_.emplace(s.name, entry{}).first;
  auto& e = it->second;
  if (e.kind != s.type) {
    // Another kind under the same name: its runs and numbers mean something else.
    e = entry{};
    e.kind = s.type;
  }
}

void probe_history::keep_only(const std::vector<std::string>& names) {
  std::map<std::string, entry, std::less<>> kept;
  for (const auto& n : names) {
    auto it = probes_.find(n);
    if (it == probes_.end()) continue;
    // Aggregates still open are written before the history goes.
    kept.insert(probes_.extract(it));
  }
  for (auto& [name, e] : probes_)
    for (std::size_t t = 0; t < e.open.size(); ++t) close(e, name, t);
  probes_ = std::move(kept);
}

void probe_history::run_finished(const probe_settings& s, const run_outcome& out) {
  const auto it = probes_.find(s.name);
  if (it == probes_.end()) return;
  auto& e = it->second;
  const auto end = out.result.ok ? run_end::ok : out.timed_out ? run_end::timed_out : run_end::failed;
  add(e, it->first, end, out.duration_seconds, read_key_values(e.kind, out.result.samples),
      out.result.ok ? std::string() : out.result.error, out.finished_at);
}

void probe_history::run_skipped(const probe_settings& s, std::chrono::system_clock::time_point at) {
  const auto it = probes_.find(s.name);
  if (it == probes_.end()) return;
  add(it->second, it->first, run_end::skipped, 0, history_bucket::nan_keys(), {}, at);
}

void probe_history::add(entry& e, const std::string& name, run_end end, double duration, const key_values& values,
                        std::string cause, std::chrono::system_clock::time_point at) {
  const auto at_ms = ms_of(at);
  // A counter's key is kept as what it went up by in this run.
  auto keys = values;
  const auto ks = history_keys(e.kind);
  for (std::size_t i = 0; i < ks.size(); ++i) {
    if (ks[i].how != history_key::fold::increase || std::isnan(values[i])) continue;
    const double before = std::isnan(e.counters[i]) ? 0 : e.counters[i];
    keys[i] = values[i] >= before ? values[i] - before : values[i];  // lower: the counter was reset
    e.counters[i] = values[i];
  }
  stored_run r(at_ms, static_cast<float>(duration), end);
  const bool with_keys = !history_keys(e.kind).empty();
  if (e.runs.size() < recent_runs_kept) {
    // The ring's whole size at once: growing by doubling would leave it
    // with room for 128 runs (1.5 KiB a probe, not 1.05).
    if (e.runs.empty()) {
      e.runs.reserve(recent_runs_kept);
      if (with_keys) e.run_keys.reserve(recent_runs_kept);
    }
    if (end == run_end::failed || end == run_end::timed_out) r.cause = cause_slot(e, std::move(cause));
    e.runs.push_back(r);
    if (with_keys) e.run_keys.push_back(keys);
  } else {
    e.runs[e.next].cause = 0;  // the run it replaces no longer holds its cause
    if (end == run_end::failed || end == run_end::timed_out) r.cause = cause_slot(e, std::move(cause));
    e.runs[e.next] = r;
    if (with_keys) e.run_keys[e.next] = keys;
    e.next = (e.next + 1) % recent_runs_kept;
  }
  for (std::size_t t = 0; t < history_tiers.size(); ++t) {
    const auto start = bucket_start(at_ms, history_tiers[t].step);
    auto& open = e.open[t];
    // A run dated before the open aggregate (the clock was set back) is
    // counted in it: reopening an older one would replace what was written.
    if (open && open->start_ms > start) {
      open->add(end, duration, keys, e.kind);
      continue;
    }
    if (open && open->start_ms != start) close(e, name, t);
    if (!open) {
      open.emplace();
      open->start_ms = start;
      open->step_s = static_cast<std::int32_t>(history_tiers[t].step.count());
    }
    open->add(end, duration, keys, e.kind);
  }
}

std::uint8_t probe_history::cause_slot(entry& e, std::string cause) {
  // Runs failing the same way share one copy of the cause.
  for (std::size_t i = 0; i < e.causes.size(); ++i)
    if (e.causes[i] && *e.causes[i] == cause) return static_cast<std::uint8_t>(i + 1);
  // A slot no run holds any more, or a new one: the ring holds at most
  // recent_runs_kept causes, so there are never more than that + 1 slots.
  std::vector<bool> held(e.causes.size(), false);
  for (const auto& r : e.runs)
    if (r.cause) held[r.cause - 1] = true;
  auto text = std::make_shared<const std::string>(std::move(cause));
  for (std::size_t i = 0; i < held.size(); ++i)
    if (!held[i]) {
      e.causes[i] = std::move(text);
      return static_cast<std::uint8_t>(i + 1);
    }
  e.causes.push_back(std::move(text));
  return static_cast<std::uint8_t>(e.causes.size());
}

namespace {

// Rounded down and always in [0, span): steps before 1970 (a clock not set
// yet at boot) have negative indexes.
std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
std::size_t ring_slot(std::int64_t k, std::int64_t span) { return static_cast<std::size_t>((k % span + span) % span); }

}  // namespace

void probe_history::uptime_ring::add(const history_bucket& b) {
  const auto index = floor_div(b.start_ms, step_ms_);
  const std::int64_t span = span_;
  const bool first = slots_.empty();
  if (!first && index <= newest_ - span) return;  // older than the ring reaches
  if (first) slots_.assign(span_, 0);
  if (first || index > newest_) {
    // The slots between are steps without a closed aggregate: emptied.
    const auto from = first ? index - span + 1 : std::max(newest_ + 1, index - span + 1);
    for (auto k = from; k <= index; ++k) set(ring_slot(k, span), {0, 0});
    newest_ = index;
  }
  const auto i = ring_slot(index, span);
  auto counts = slot(i);
  // Added, not replaced: a step written at a stop meets the rest of it.
  // Saturating: a week of 2^32 runs an hour is beyond any interval.
  const auto sum = [](std::uint32_t a, std::uint32_t b) {
    return a > std::numeric_limits<std::uint32_t>::max() - b ? std::numeric_limits<std::uint32_t>::max() : a + b;
  };
  set(i, {sum(counts[0], b.good()), sum(counts[1], b.runs)});
}

std::array<std::uint32_t, 2> probe_history::uptime_ring::slot(std::size_t i) const {
  if (wide_) return {slots_[2 * i], slots_[2 * i + 1]};
  return {slots_[i] & 0xffff, slots_[i] >> 16};
}

void probe_history::uptime_ring::set(std::size_t i, std::array<std::uint32_t, 2> counts) {
  if (!wide_ && (counts[0] > 0xffff || counts[1] > 0xffff)) {
    std::vector<std::uint32_t> wide(2 * std::size_t{span_});
    for (std::size_t k = 0; k < span_; ++k) {
      const auto c = slot(k);
      wide[2 * k] = c[0];
      wide[2 * k + 1] = c[1];
    }
    slots_ = std::move(wide);
    wide_ = true;
  }
  if (wide_) {
    slots_[2 * i] = counts[0];
    slots_[2 * i + 1] = counts[1];
  } else {
    slots_[i] = counts[0] | counts[1] << 16;
  }
}

uptime probe_history::uptime_ring::since(std::int64_t since_ms) const {
  uptime u;
  if (slots_.empty()) return u;
  const std::int64_t span = span_;
  const auto first = std::max(-floor_div(-since_ms, step_ms_), newest_ - span + 1);  // rounded up
  for (auto k = first; k <= newest_; ++k) {
    const auto counts = slot(ring_slot(k, span));
    u.good += counts[0];
    u.runs += counts[1];
  }
  return u;
}

void probe_history::close(entry& e, const std::string& name, std::size_t tier) {
  auto& open = e.open[tier];
  if (!open) return;
  // To the microsecond, as the state store keeps it: a closed aggregate
  // reads the same before it is written and after a restart.
  const auto whole_us = [](double seconds) { return static_cast<double>(std::llround(seconds * 1e6)) / 1e6; };
  open->duration_min = whole_us(open->duration_min);
  open->duration_sum = whole_us(open->duration_sum);
  open->duration_max = whole_us(open->duration_max);
  if (history_tiers[tier].step.count() == 60) e.minutes.add(*open);
  if (history_tiers[tier].step.count() == 3600) e.hours.add(*open);
  closed_.push_back({name, e.kind, *open});
  open.reset();
}

void probe_history::close_due(std::chrono::system_clock::time_point now) {
  const auto now_ms = ms_of(now);
  for (auto& [name, e] : probes_)
    for (std::size_t t = 0; t < history_tiers.size(); ++t)
      if (e.open[t] && e.open[t]->start_ms + history_tiers[t].step.count() * 1000 <= now_ms) close(e, name, t);
}

std::vector<history_row> probe_history::take_closed() { return std::exchange(closed_, {}); }

std::vector<history_row> probe_history::open_rows() const {
  std::vector<history_row> out;
  for (const auto& [name, e] : probes_)
    for (const auto& b : e.open)
      if (b) out.push_back({name, e.kind, *b});
  return out;
}

void probe_history::restore(const std::vector<history_row>& rows, std::chrono::system_clock::time_point now) {
  const auto now_ms = ms_of(now);
  for (const auto& row : rows) {
    const auto it = probes_.find(row.probe);
    if (it == probes_.end() || it->second.kind != row.kind) continue;
    auto& e = it->second;
    const auto& b = row.bucket;
    for (std::size_t t = 0; t < history_tiers.size(); ++t) {
      if (history_tiers[t].step.count() != b.step_s) continue;
      auto& open = e.open[t];
      if (open && open->start_ms == b.start_ms) {
        // Written at the last stop while still open, and runs of this start
        // came since: one aggregate (whether or not its step has ended).
        auto merged = b;
        merged.merge(*open, e.kind);
        open = merged;
      } else if (!open && b.start_ms == bucket_start(now_ms, history_tiers[t].step)) {
        open = b;  // this run goes on from it
      } else if (b.step_s == 60 && b.start_ms >= now_ms - hour_ms) {
        e.minutes.add(b);
      } else if (b.step_s == 3600 && b.start_ms >= now_ms - week_ms) {
        e.hours.add(b);
      }
    }
  }
}

std::optional<probe_history::view> probe_history::find(std::string_view name,
                                                        std::chrono::system_clock::time_point now) const {
  const auto it = probes_.find(name);
  if (it == probes_.end()) return std::nullopt;
  const auto& e = it->second;
  view v;
  v.kind = e.kind;
  const auto n = e.runs.size();
  v.runs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto at = n < recent_runs_kept ? i : (e.next + i) % recent_runs_kept;
    const auto& r = e.runs[at];
    v.runs.push_back({r.at_ms(), r.duration_seconds, r.end, r.cause ? e.causes[r.cause - 1] : nullptr});
    if (!e.run_keys.empty()) v.run_keys.push_back(e.run_keys[at]);
  }
  const auto now_ms = ms_of(now);
  const auto count = [&](const uptime_ring& w, std::int64_t since_ms, const auto& open, uptime& u) {
    u = w.since(since_ms);
    if (open) {
      u.good += open->good();
      u.runs += open->runs;
    }
  };
  // Each window is the closed aggregates that started within it and the
  // open one: 1 h to 1 h + 1 min of runs, 24 h to 25 h, 7 d to 7 d + 1 h.
  count(e.minutes, now_ms - hour_ms, e.open[0], v.last_hour);
  count(e.hours, now_ms - 24 * hour_ms, e.open[2], v.last_day);
  count(e.hours, now_ms - week_ms, e.open[2], v.last_week);
  return v;
}

std::vector<history_bucket> probe_history::closed_not_taken(std::string_view name, std::chrono::seconds step) const {
  std::vector<history_bucket> out;
  for (const auto& r : closed_)
    if (r.probe == name && r.bucket.step_s == step.count()) out.push_back(r.bucket);
  return out;
}

std::optional<history_bucket> probe_history::open_bucket(std::string_view name, std::chrono::seconds step) const {
  const auto it = probes_.find(name);
  if (it == probes_.end()) return std::nullopt;
  for (std::size_t t = 0; t < history_tiers.size(); ++t)
    if (history_tiers[t].step == step) return it->second.open[t];
  return std::nullopt;
}

}  // namespace vitals
