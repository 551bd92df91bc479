#include "probes/sqlite/sqlite_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/units.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace vitals {

namespace {

constexpr metric_info sqlite_metrics[] = {
    {"vitals_sqlite_locked",
     "1 while a writer's lock (reserved, pending, exclusive, or wal-write) is held on the database: another "
     "writer would get SQLITE_BUSY. Also 1 when the opt-in check got SQLITE_BUSY.",
     metric_kind::gauge},
    {"vitals_sqlite_lock_holder_info",
     "1 per process holding a SQLite lock on the database or its -shm, with the strongest lock it holds.",
     metric_kind::gauge},
    {"vitals_sqlite_lock_held_seconds",
     "How long a writer's lock has been seen held by the same process across consecutive runs; 0 when none.",
     metric_kind::gauge},
    {"vitals_sqlite_file_bytes", "Size of the database file and of its -wal, -journal and -shm (0 when absent).",
     metric_kind::gauge},
    {"vitals_sqlite_wal_checkpoint_lag_frames",
     "WAL frames not yet copied back into the database (wal-index mxFrame - nBackfill); absent without -shm.",
     metric_kind::gauge},
    {"vitals_sqlite_pages", "Pages in the database, from the header (the wal-index in WAL mode).",
     metric_kind::gauge},
    {"vitals_sqlite_freelist_pages", "Unused pages in the database file, from the header.", metric_kind::gauge},
    {"vitals_sqlite_integrity_ok",
     "1 when the last opt-in quick_check/integrity_check said ok, 0 when it found damage; absent before one ran.",
     metric_kind::gauge},
};

constexpr std::size_t max_holder_series = 10;

std::string holder_text(const sqlite_lock_holder& h) {
  std::string text = std::string(to_string(h.kind)) + " by ";
  if (h.pid <= 0) return text + "an open file description (OFD lock; no pid)";
  if (!h.who) return text + "pid " + std::to_string(h.pid) + " (exited, or /proc/" + std::to_string(h.pid) + " unreadable)";
  text += h.who->process + " (pid " + std::to_string(h.pid) + ", user " + h.who->user + ")";
  if (!h.who->cmdline.empty()) text += ": " + h.who->cmdline;
  return text;
}

std::string holder_name(const sqlite_lock_holder& h) {
  if (h.pid <= 0) return "an OFD lock";
  return (h.who ? h.who->process : std::string("pid")) + " (pid " + std::to_string(h.pid) + ")";
}

probe_result open_failure(const std::string& path, int error) {
  switch (error) {
    case ENOENT:
      return probe_result::failure("missing", "database " + path + " does not exist");
    case ENOTDIR:
      return probe_result::failure("missing", "database " + path + " does not exist (a parent is not a directory)");
    case EACCES:
    case EPERM:
      return probe_result::failure("permission", "cannot read " + path + ": permission denied (vitalsd runs as uid " +
                                                     std::to_string(::geteuid()) + ")");
    case EISDIR:
      return probe_result::failure("not_a_database", path + " is a directory, not a database");
    default:
      return probe_result::failure("error", "cannot read " + path + ": " + std::strerror(error));
  }
}

std::string integrity_name(integrity_mode m) { return m == integrity_mode::full ? "integrity_check" : "quick_check"; }

}  // namespace

sqlite_probe::sqlite_probe(settings s, const probe_context& ctx) : settings_(std::move(s)), ctx_(&ctx) {
  if (settings_.path.empty() || settings_.path.front() != '/')
    throw std::invalid_argument("sqlite_probe: path must be absolute");
}

std::span<const metric_info> sqlite_probe::metrics() { return sqlite_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert sqlite_alerts[] = {
    {"SQLiteLocked", "last_over_time(vitals_sqlite_lock_held_seconds[{hold}]) > {}", 0, 30s, "high",
     "SQLite database {{ $labels.probe }} is locked",
     "A writer has held a lock on {{ $labels.probe }} for {{ $value | humanizeDuration }}.", threshold_unit::seconds},
    {"SQLiteCorrupt", "last_over_time(vitals_sqlite_integrity_ok[{hold}]) == 0", builtin_alert::no_threshold, 0ms, "critical",
     "SQLite database {{ $labels.probe }} failed its integrity check",
     "quick_check/integrity_check of {{ $labels.probe }} found damage."},
};

}  // namespace

std::span<const builtin_alert> sqlite_probe::alerts() { return sqlite_alerts; }

asio::awaitable<probe_result> sqlite_probe::run() {
  const auto now = clock::now();
  // A finished inspection nobody judged (its run hit the deadline) may hold
  // an integrity check stopped there: the next run reports it.
  std::optional<integrity_outcome> carried;
  if (in_flight_ && in_flight_->finished() && in_flight_.get() != judged_) carried = in_flight_->value().integrity;
  // An inspection still running from an earlier, timed-out run (a hung
  // network mount, an integrity check told to stop) is waited for rather
  // than joined by a second one.
  if (!in_flight_ || in_flight_->finished()) {
    sqlite_inspect_request request{settings_.path, integrity_mode::none, settings_.proc_root};
    if (settings_.integrity != integrity_mode::none &&
        (!last_integrity_attempt_ || now - *last_integrity_attempt_ >= settings_.integrity_interval)) {
      request.integrity = settings_.integrity;
      // Set before the wait: a check cut off by the deadline is not retried
      // on every run, only after the next integrity_interval.
      last_integrity_attempt_ = now;
    }
    in_flight_ = inspect_call::start(
        *ctx_, [request](const std::atomic<bool>& stop) { return inspect_sqlite(request, stop); });
  }
  const auto call = in_flight_;  // our own copy: a reload may destroy the probe while we wait
  co_await call->wait("sqlite inspection");
  judged_ = call.get();
  sqlite_inspection& seen = call->value();
  if (!seen.integrity && carried) seen.integrity = std::move(carried);
  co_return judge(seen, clock::now());
}

probe_result sqlite_probe::judge(const sqlite_inspection& seen, clock::time_point now) {
  const std::string& path = settings_.path;
  if (seen.error != 0) {
    locked_since_.reset();
    locking_pids_.clear();
    return open_failure(path, seen.error);
  }

  // The integrity verdict this run can use: a fresh one, else the last.
  std::optional<integrity_outcome> fresh = seen.integrity;
  if (fresh && fresh->result == integrity_outcome::status::skipped) {
    last_integrity_attempt_.reset();  // not done: try again next run
  } else if (fresh && (fresh->result == integrity_outcome::status::ok ||
                       fresh->result == integrity_outcome::status::malformed ||
                       fresh->result == integrity_outcome::status::not_a_database)) {
    last_integrity_ = fresh;
  }
  const bool busy = fresh && fresh->result == integrity_outcome::status::busy;

  probe_result r = probe_result::success();
  auto add = [&r](std::string name, double value, label_set labels = {}) {
    r.samples.push_back({std::move(name), std::move(labels), value});
  };

  // Files.
  add("vitals_sqlite_file_bytes", static_cast<double>(seen.db_bytes), {{"file", "db"}});
  add("vitals_sqlite_file_bytes", static_cast<double>(seen.wal_bytes.value_or(0)), {{"file", "wal"}});
  add("vitals_sqlite_file_bytes", static_cast<double>(seen.journal_bytes.value_or(0)), {{"file", "journal"}});
  add("vitals_sqlite_file_bytes", static_cast<double>(seen.shm_bytes.value_or(0)), {{"file", "shm"}});

  // Locks.
  std::set<int> locking_pids;
  const sqlite_lock_holder* strongest_writer = nullptr;
  for (const auto& h : seen.holders) {
    if (!blocks_writers(h.kind)) continue;
    locking_pids.insert(h.pid);
    if (strongest_writer == nullptr) strongest_writer = &h;  // holders come strongest first
  }
  const bool locked = !locking_pids.empty() || busy;
  bool continued = false;
  for (int pid : locking_pids) continued = continued || locking_pids_.count(pid) != 0;
  if (!locked) {
    locked_since_.reset();
  } else if (!locked_since_ || !continued) {
    locked_since_ = now;
  }
  locking_pids_ = std::move(locking_pids);
  const double held = locked_since_ ? std::chrono::duration<double>(now - *locked_since_).count() : 0.0;
  add("vitals_sqlite_locked", locked ? 1 : 0);
  add("vitals_sqlite_lock_held_seconds", held);
  for (std::size_t i = 0; i < seen.holders.size() && i < max_holder_series; ++i) {
    const auto& h = seen.holders[i];
    add("vitals_sqlite_lock_holder_info", 1,
        {{"pid", h.pid > 0 ? std::to_string(h.pid) : ""},
         {"process", h.who ? h.who->process : ""},
         {"lock", std::string(to_string(h.kind))}});
  }

  // Header and WAL.
  const auto& header = seen.header.header;
  const bool wal_mode = header && header->wal_mode;
  if (header) {
    std::uint64_t pages = 0;
    if (wal_mode && seen.wal_index && seen.wal_index->db_pages > 0)
      pages = seen.wal_index->db_pages;
    else if (header->page_count)
      pages = *header->page_count;
    else
      pages = seen.db_bytes / header->page_size;
    add("vitals_sqlite_pages", static_cast<double>(pages));
    add("vitals_sqlite_freelist_pages", header->freelist_pages);
    r.evidence.emplace_back("database", path + " (" + format_bytes(static_cast<double>(seen.db_bytes)) + ")");
    r.evidence.emplace_back("journal mode", wal_mode ? "wal" : "rollback");
    std::string pages_text = std::to_string(pages) + " pages of " + format_bytes(header->page_size) + ", " +
                             std::to_string(header->freelist_pages) + " on the freelist";
    if (pages > 0) {
      char pct[48];
      std::snprintf(pct, sizeof pct, " (%.1f%% of the file unused)",
                    100.0 * header->freelist_pages / static_cast<double>(pages));
      pages_text += pct;
    }
    r.evidence.emplace_back("pages", pages_text);
  } else if (seen.db_bytes == 0 && !seen.header.problem) {
    add("vitals_sqlite_pages", 0);
    add("vitals_sqlite_freelist_pages", 0);
    r.evidence.emplace_back("database", path + " (empty: a database with no tables yet)");
  }
  if (seen.wal_index) {
    const auto& w = *seen.wal_index;
    const double lag = w.max_frame >= w.backfilled ? w.max_frame - w.backfilled : 0;
    add("vitals_sqlite_wal_checkpoint_lag_frames", lag);
    r.evidence.emplace_back("wal", std::to_string(w.max_frame) + " frames, " + std::to_string(w.backfilled) +
                                       " checkpointed, lag " + std::to_string(static_cast<std::uint64_t>(lag)) +
                                       " (-wal " + format_bytes(static_cast<double>(seen.wal_bytes.value_or(0))) +
                                       ")");
  } else if (seen.wal_bytes) {
    r.evidence.emplace_back("wal", format_bytes(static_cast<double>(*seen.wal_bytes)) +
                                       " -wal with no readable wal-index (-shm): no connection has it open");
  }
  if (seen.journal_bytes)
    r.evidence.emplace_back("journal", path + "-journal (" + format_bytes(static_cast<double>(*seen.journal_bytes)) + ")");
  for (std::size_t i = 0; i < seen.holders.size(); ++i) {
    if (i == max_holder_series) {
      r.evidence.emplace_back("lock holders", "and " + std::to_string(seen.holders.size() - i) + " more");
      break;
    }
    r.evidence.emplace_back("lock holder", holder_text(seen.holders[i]));
  }
  if (locked) r.evidence.emplace_back("locked for", format_age(held) + " (as seen by consecutive runs)");

  // Integrity.
  if (last_integrity_) {
    const bool ok = last_integrity_->result == integrity_outcome::status::ok;
    add("vitals_sqlite_integrity_ok", ok ? 1 : 0);
    std::string text = integrity_name(settings_.integrity) + ": ";
    if (ok) {
      text += "ok";
    } else if (const auto problems = integrity_problems(last_integrity_->messages); !problems.empty()) {
      // Every problem, on one line: evidence is shown as one.
      text += std::to_string(problems.size()) + (last_integrity_->truncated ? " or more" : "") + " problem" +
              (problems.size() == 1 ? "" : "s") + ": ";
      for (std::size_t i = 0; i < problems.size(); ++i) text += (i == 0 ? "" : "; ") + problems[i];
    } else {
      text += last_integrity_->detail;
    }
    r.evidence.emplace_back("integrity", text);
  }
  if (fresh && fresh->result == integrity_outcome::status::skipped)
    r.evidence.emplace_back("integrity check", "skipped: " + fresh->detail);
  else if (fresh && (fresh->result == integrity_outcome::status::error ||
                     fresh->result == integrity_outcome::status::interrupted))
    r.evidence.emplace_back("integrity check", "did not finish: " + fresh->detail);

  // The verdict, the gravest cause first.
  auto fail = [&r](std::string reason, std::string error) {
    r.ok = false;
    r.reason = std::move(reason);
    r.error = std::move(error);
  };
  if (seen.deleted) {
    fail("replaced", "database " + path + " was deleted during the check");
  } else if (seen.replaced) {
    fail("replaced", "database " + path + " was replaced by another file during the check");
  } else if (seen.header.problem) {
    fail(seen.header.problem->reason, path + ": " + seen.header.problem->error);
  } else if (last_integrity_ && last_integrity_->result == integrity_outcome::status::not_a_database) {
    fail("not_a_database", path + ": " + last_integrity_->detail);
  } else if (last_integrity_ && last_integrity_->result == integrity_outcome::status::malformed) {
    const auto problems = integrity_problems(last_integrity_->messages);
    fail("malformed", path + " is malformed: " +
                          (problems.empty() ? last_integrity_->detail
                                            : integrity_summary(problems, last_integrity_->truncated)));
  } else if (seen.hot_journal) {
    fail("hot_journal", "hot journal " + path + "-journal (" +
                            format_bytes(static_cast<double>(seen.journal_bytes.value_or(0))) +
                            ") and no writer holds a lock: a writer died mid-transaction; the next connection "
                            "will roll it back");
  } else if (locked && now - *locked_since_ >= settings_.max_lock_held) {
    std::string error = "database is locked: ";
    if (strongest_writer != nullptr)
      error += std::string(to_string(strongest_writer->kind)) + " lock held by " + holder_name(*strongest_writer);
    else
      error += "the read-only check got SQLITE_BUSY";
    error += " for " + format_age(held);
    fail("locked", std::move(error));
  }
  return r;
}

// ---------------------------------------------------------------------------
// Configuration.

probe_builder sqlite_probe::create(const probe_settings&, node_reader& r) {
  settings s;
  r.read_required("path", s.path, absolute_path{"the daemon's working directory is not yours"});
  r.read("integrity_check", s.integrity,
         {{"none", integrity_mode::none}, {"quick", integrity_mode::quick}, {"full", integrity_mode::full}});
  r.read("integrity_interval", s.integrity_interval);
  r.read("max_lock_held", s.max_lock_held);
  if (r.failed()) return {};
  return [s = std::move(s)](const probe_context& ctx) { return std::make_unique<sqlite_probe>(s, ctx); };
}

}  // namespace vitals
