#include "daemon/state/state_store.hpp"

#include "daemon/state/state_file.hpp"
#include "daemon/state/state_schema.hpp"
#include "probes/core/time_format.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/json.hpp>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <memory>

namespace vitals {

namespace json = boost::json;

namespace {

using state_schema::migrations;
static_assert(std::size(migrations) == state_store::schema_version);

// By default SQLite checkpoints its WAL at 1000 pages (4 MiB) and leaves
// the file at its largest: on a small or nearly full filesystem the WAL of
// our few-page writes would fill it by itself. A checkpoint every 16 pages
// costs little at our rate of writes, and the file is cut back to 64 KiB.
constexpr const char* wal_limits = "PRAGMA wal_autocheckpoint=16; PRAGMA journal_size_limit=65536";

// The store is written behind, a minute's history at a time, and read for
// a page now and then: 512 KiB of page cache is plenty, where SQLite's
// default of 2 MiB filled up with history pages read once.
constexpr const char* cache_limit = "PRAGMA cache_size=-512";

using stmt = std::unique_ptr<sqlite3_stmt, void (*)(sqlite3_stmt*)>;

void finalize(sqlite3_stmt* s) { sqlite3_finalize(s); }

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p ? reinterpret_cast<const char*>(p) : "";
}

std::optional<std::int64_t> column_ms(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void bind_ms(sqlite3_stmt* s, int i, std::optional<alerts::wall_clock::time_point> t) {
  if (t)
    sqlite3_bind_int64(s, i, unix_ms(*t));
  else
    sqlite3_bind_null(s, i);
}

}  // namespace

std::string labels_json(const alerts::labels& l) {
  json::object o;
  for (const auto& [k, v] : l) o[k] = v;
  return json::serialize(o);
}

alerts::labels labels_from_json(const std::string& text) {
  alerts::labels out;
  boost::system::error_code ec;
  // Rows written by versions before labels were made valid UTF-8 may hold
  // raw bytes, which a strict parser refuses: repair them instead of losing the labels.
  const auto v = json::parse(valid_utf8(text), ec);
  if (ec || !v.is_object()) return out;
  for (const auto& [k, val] : v.as_object())
    if (val.is_string()) out[std::string(k)] = std::string(val.as_string());
  return out;
}

state_store::state_store(std::string path, mode m) : path_(std::move(path)), shown_(printable(path_)), mode_(m) {
  open();
}

state_store::~state_store() { close(); }

void state_store::close() {
  if (db_) sqlite3_close_v2(db_);
  db_ = nullptr;
  history_ids_.clear();
}

bool state_store::fail(const std::string& what) {
  problem_ = what + (db_ ? std::string(": ") + sqlite3_errmsg(db_) : std::string());
  return false;
}

bool state_store::abandon() {
  // A fresh connection next time: after an I/O error, a replaced file or a
  // failed rollback, this one may never work again.
  close();
  wal_needs_cut_ = true;
  return false;
}

stmt state_store::prepare(const char* sql, const std::string& what) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) != SQLITE_OK) fail(what);
  return stmt(raw, finalize);
}

bool state_store::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  problem_ = message ? message : sqlite3_errmsg(db_);
  sqlite3_free(message);
  return false;
}

bool state_store::open() {
  close();
  const bool existed = id_of(path_).has_value();
  // SQLite takes an empty file for a new database. A state file never is
  // one (its header is written when it is made, before anything else), so
  // an empty one was truncated: that is reported, not covered with a new
  // schema and forgotten.
  if (is_empty_file(path_)) {
    problem_ = shown_ + " is empty (0 bytes), so what it held is gone; left untouched (remove it to start a new one)";
    return false;
  }
  // SQLite would make it 0644 less the umask; made here, it is 0600 from
  // its first moment, and so are the -wal and -shm SQLite copies it to.
  if (std::error_code ec; !existed && mode_ == mode::read_write && !create_private_file(path_, ec)) {
    problem_ = "cannot create " + shown_ + ": " + ec.message();
    return false;
  }
  const int flags = mode_ == mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path_.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    fail("cannot open " + shown_);
    close();
    return false;
  }
  opened_ = id_of(path_).value_or(file_id{});  // the file SQLite just opened (still_at_path() checks it is)
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 2000);  // `vitalsd incidents` may be reading
  const bool good = exec(cache_limit) && exec("SELECT count(*) FROM sqlite_schema") && migrate();
  if (!good) {
    if (problem_.find(shown_) == std::string::npos) problem_ = shown_ + ": " + problem_;
    close();
    // Made just now and not even given its header (a full disk): not left
    // behind, or the next open would refuse it as emptied.
    if (!existed && is_empty_file(path_)) ::unlink(path_.c_str());
    return false;
  }
  companions_ = wal_files_of(path_);
  problem_.clear();
  return true;
}

bool state_store::still_at_path() {
  std::error_code ec;
  auto change = change_at(path_, opened_, ec);
  if (ec) {
    problem_ = "cannot check " + shown_ + ": " + ec.message();
    return abandon();
  }
  // SQLite's own check compares the inode it holds open, which also covers
  // a file replaced between its open and ours.
  int moved = 0;
  if (change == file_change::none &&
      sqlite3_file_control(db_, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved)
    change = file_change::replaced;
  if (change == file_change::none) return true;
  problem_ = shown_ + " " + describe(change) + " while vitalsd had it open";
  lost_ = true;
  // Nothing more goes into the lost file (an emptied one stays empty), and
  // its WAL goes with it: SQLite would replay it into the next file here.
  sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  abandon();
  if (mode_ == mode::read_write) remove_wal_files(path_, companions_);
  return false;
}

bool state_store::migrate() {
  auto s = prepare("PRAGMA user_version", shown_);
  if (!s || sqlite3_step(s.get()) != SQLITE_ROW) return fail(shown_);
  const int version = sqlite3_column_int(s.get(), 0);
  s.reset();
  if (version > schema_version) {
    problem_ = shown_ + ": schema version " + std::to_string(version) + " is newer than this vitalsd knows (" +
               std::to_string(schema_version) + "); left untouched";
    return false;
  }
  if (mode_ == mode::read_write) {
    // WAL: readers (vitalsd incidents) never block the daemon's writes.
    // Only now: a file this build refuses is left exactly as it was.
    s = prepare("PRAGMA journal_mode=WAL", shown_);
    if (!s || sqlite3_step(s.get()) != SQLITE_ROW) return fail(shown_);
    if (column_text(s.get(), 0) != "wal") {
      problem_ = shown_ + ": cannot switch to WAL mode";
      return false;
    }
    s.reset();
    if (!exec("PRAGMA synchronous=NORMAL") || !exec(wal_limits)) return false;
  }
  if (version == schema_version) return true;
  if (mode_ == mode::read_only) {
    problem_ = shown_ + ": schema version " + std::to_string(version) + " needs the daemon to migrate it";
    return false;
  }
  for (int v = version; v < schema_version; ++v) {
    // One transaction per step, the version bump included: a crash leaves
    // the file at a whole version.
    if (!exec("BEGIN IMMEDIATE")) return false;
    const std::string bump = "PRAGMA user_version=" + std::to_string(v + 1);
    if (!exec(migrations[v]) || !exec(bump.c_str())) {
      const std::string why = problem_;
      exec("ROLLBACK");
      problem_ = "migrating to schema version " + std::to_string(v + 1) + ": " + why;
      return false;
    }
    if (!exec("COMMIT")) return false;
  }
  return true;
}

bool state_store::ok() {
  lost_ = false;
  if (db_ && !still_at_path()) return false;
  return db_ || open();
}

bool state_store::cut_wal() {
  // Into the file, then truncated to nothing: a WAL that grew over all the
  // room there was (a full disk) would have the next writes fill it again.
  const auto s = prepare("PRAGMA wal_checkpoint(TRUNCATE)", shown_ + ": checkpointing the WAL");
  if (!s) return abandon();
  if (sqlite3_step(s.get()) != SQLITE_ROW) {
    fail(shown_ + ": checkpointing the WAL");
    return abandon();
  }
  if (sqlite3_column_int(s.get(), 0) != 0) {
    problem_ = shown_ + ": the WAL cannot be checkpointed while a reader holds it";
    return abandon();
  }
  wal_needs_cut_ = false;
  return true;
}

std::optional<std::vector<saved_alert>> state_store::load_alerts() {
  if (!ok()) return std::nullopt;
  const auto s = prepare(
      "SELECT rule, labels, expr, state, value, active_since_ms, fired_at_ms, last_seen_ms, keep_firing_since_ms, "
      "summary, description, runbook_url, evidence, incident_id FROM alerts ORDER BY rule, labels",
      "reading alerts");
  if (!s) return std::nullopt;
  sqlite3_stmt* raw = s.get();
  std::vector<saved_alert> out;
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    saved_alert sa;
    auto& a = sa.alert;
    a.rule = column_text(raw, 0);
    a.label_values = labels_from_json(column_text(raw, 1));
    sa.expr = column_text(raw, 2);
    a.state = column_text(raw, 3) == "firing" ? alerts::alert_state::firing : alerts::alert_state::pending;
    a.value = sqlite3_column_double(raw, 4);
    a.active_since = from_unix_ms(sqlite3_column_int64(raw, 5));
    if (auto t = column_ms(raw, 6)) a.fired_at = from_unix_ms(*t);
    a.last_seen = from_unix_ms(sqlite3_column_int64(raw, 7));
    if (auto t = column_ms(raw, 8)) a.keep_firing_since = from_unix_ms(*t);
    a.summary = column_text(raw, 9);
    a.description = column_text(raw, 10);
    a.runbook_url = column_text(raw, 11);
    a.evidence = column_text(raw, 12);
    a.incident_id = sqlite3_column_int64(raw, 13);
    out.push_back(std::move(sa));
  }
  if (rc != SQLITE_DONE) {
    fail("reading alerts");
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<incident>> state_store::load_incidents(alerts::wall_clock::time_point since,
                                                                 std::size_t limit) {
  if (!ok()) return std::nullopt;
  // Every open incident, however old: it still has to be closed.
  const auto s = prepare(
      "SELECT id, alertname, severity, labels, started_ms, resolved_ms, summary, runbook_url, evidence "
      "FROM incidents WHERE resolved_ms IS NULL OR id IN "
      "(SELECT id FROM incidents WHERE resolved_ms >= ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
      "reading incidents");
  if (!s) return std::nullopt;
  sqlite3_stmt* raw = s.get();
  sqlite3_bind_int64(raw, 1, unix_ms(since));
  sqlite3_bind_int64(raw, 2, static_cast<sqlite3_int64>(std::min<std::size_t>(limit, INT64_MAX)));
  std::vector<incident> out;
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    incident i;
    i.id = sqlite3_column_int64(raw, 0);
    i.alertname = column_text(raw, 1);
    i.severity = column_text(raw, 2);
    i.labels = labels_from_json(column_text(raw, 3));
    i.started = from_unix_ms(sqlite3_column_int64(raw, 4));
    if (auto t = column_ms(raw, 5)) i.resolved = from_unix_ms(*t);
    i.summary = column_text(raw, 6);
    i.runbook_url = column_text(raw, 7);
    i.evidence_json = column_text(raw, 8);
    out.push_back(std::move(i));
  }
  if (rc != SQLITE_DONE) {
    fail("reading incidents");
    return std::nullopt;
  }
  return out;
}

bool state_store::save(const std::vector<saved_alert>& active, const std::vector<incident>& incidents,
                       const std::vector<history_row>& history) {
  if (!ok()) return false;
  if (wal_needs_cut_ && !cut_wal()) return false;
  if (!exec("BEGIN IMMEDIATE")) return abandon();
  auto rollback = [this](const std::string& what) {
    fail(what);
    const std::string why = problem_;
    exec("ROLLBACK");
    problem_ = why;
    return abandon();
  };
  if (!exec("DELETE FROM alerts")) return rollback("saving alerts");
  const auto insert = prepare(
      "INSERT INTO alerts (rule, labels, expr, state, value, active_since_ms, fired_at_ms, last_seen_ms, "
      "keep_firing_since_ms, summary, description, runbook_url, evidence, incident_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
      "saving alerts");
  if (!insert) return rollback("saving alerts");
  sqlite3_stmt* raw = insert.get();
  for (const auto& sa : active) {
    const auto& a = sa.alert;
    const bool firing = a.state == alerts::alert_state::firing;
    bind_text(raw, 1, a.rule);
    bind_text(raw, 2, labels_json(a.label_values));
    bind_text(raw, 3, sa.expr);
    bind_text(raw, 4, firing ? "firing" : "pending");
    sqlite3_bind_double(raw, 5, a.value);  // NaN binds as NULL and reads back as 0
    sqlite3_bind_int64(raw, 6, unix_ms(a.active_since));
    bind_ms(raw, 7, firing ? std::optional(a.fired_at) : std::nullopt);
    sqlite3_bind_int64(raw, 8, unix_ms(a.last_seen));
    bind_ms(raw, 9, a.keep_firing_since);
    bind_text(raw, 10, a.summary);
    bind_text(raw, 11, a.description);
    bind_text(raw, 12, a.runbook_url);
    bind_text(raw, 13, a.evidence);
    if (a.incident_id > 0)
      sqlite3_bind_int64(raw, 14, a.incident_id);
    else
      sqlite3_bind_null(raw, 14);
    if (sqlite3_step(raw) != SQLITE_DONE) return rollback("saving alert " + a.rule);
    sqlite3_reset(raw);
    sqlite3_clear_bindings(raw);
  }
  const auto upsert = prepare(
      "INSERT INTO incidents (id, alertname, severity, labels, started_ms, resolved_ms, summary, runbook_url, "
      "evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
      "ON CONFLICT (id) DO UPDATE SET resolved_ms = excluded.resolved_ms, summary = excluded.summary",
      "saving incidents");
  if (!upsert) return rollback("saving incidents");
  raw = upsert.get();
  for (const auto& i : incidents) {
    sqlite3_bind_int64(raw, 1, i.id);
    bind_text(raw, 2, i.alertname);
    bind_text(raw, 3, i.severity);
    bind_text(raw, 4, labels_json(i.labels));
    sqlite3_bind_int64(raw, 5, unix_ms(i.started));
    bind_ms(raw, 6, i.resolved);
    bind_text(raw, 7, i.summary);
    bind_text(raw, 8, i.runbook_url);
    bind_text(raw, 9, i.evidence_json.empty() ? std::string("{}") : i.evidence_json);
    if (sqlite3_step(raw) != SQLITE_DONE) return rollback("saving incident " + std::to_string(i.id));
    sqlite3_reset(raw);
    sqlite3_clear_bindings(raw);
  }
  if (!history.empty()) {
    const auto put = prepare(
        "INSERT OR REPLACE INTO history (probe, step_s, start_s, runs, failed, timed_out, skipped, duration_min_us, "
        "duration_sum_us, duration_max_us, key1, key2, key3) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
        "?12, ?13)",
        "saving history");
    if (!put) return rollback("saving history");
    raw = put.get();
    const auto us = [](double seconds) { return static_cast<sqlite3_int64>(std::llround(seconds * 1e6)); };
    for (const auto& row : history) {
      const auto id = history_id(row.probe, row.kind);
      if (!id) return rollback("saving history");
      const auto& b = row.bucket;
      sqlite3_bind_int64(raw, 1, *id);
      sqlite3_bind_int64(raw, 2, b.step_s);
      sqlite3_bind_int64(raw, 3, b.start_ms / 1000);
      sqlite3_bind_int64(raw, 4, b.runs);
      sqlite3_bind_int64(raw, 5, b.failed);
      sqlite3_bind_int64(raw, 6, b.timed_out);
      sqlite3_bind_int64(raw, 7, b.skipped);
      if (b.runs) {
        sqlite3_bind_int64(raw, 8, us(b.duration_min));
        sqlite3_bind_int64(raw, 9, us(b.duration_sum));
        sqlite3_bind_int64(raw, 10, us(b.duration_max));
      }
      for (int k = 0; k < 3; ++k)
        if (std::isfinite(b.keys[k])) sqlite3_bind_double(raw, 11 + k, b.keys[k]);
      if (sqlite3_step(raw) != SQLITE_DONE) return rollback("saving history of " + row.probe);
      sqlite3_reset(raw);
      sqlite3_clear_bindings(raw);
    }
  }
  if (!exec("COMMIT")) return rollback("committing");
  return true;
}

std::optional<std::int64_t> state_store::history_id(const std::string& probe, const std::string& kind) {
  if (const auto it = history_ids_.find(probe); it != history_ids_.end() && it->second.second == kind)
    return it->second.first;
  auto s = prepare("SELECT id, kind FROM history_probes WHERE name = ?1", "saving history");
  if (!s) return std::nullopt;
  bind_text(s.get(), 1, probe);
  std::optional<std::int64_t> id;
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) {
    id = sqlite3_column_int64(s.get(), 0);
    if (column_text(s.get(), 1) != kind) {
      // The name is another kind of probe now: its old numbers meant something else.
      auto del = prepare("DELETE FROM history WHERE probe = ?1", "saving history");
      auto upd = prepare("UPDATE history_probes SET kind = ?2 WHERE id = ?1", "saving history");
      if (!del || !upd) return std::nullopt;
      sqlite3_bind_int64(del.get(), 1, *id);
      sqlite3_bind_int64(upd.get(), 1, *id);
      bind_text(upd.get(), 2, kind);
      if (sqlite3_step(del.get()) != SQLITE_DONE || sqlite3_step(upd.get()) != SQLITE_DONE) {
        fail("saving history");
        return std::nullopt;
      }
    }
  } else if (rc == SQLITE_DONE) {
    auto ins = prepare("INSERT INTO history_probes (name, kind) VALUES (?1, ?2)", "saving history");
    if (!ins) return std::nullopt;
    bind_text(ins.get(), 1, probe);
    bind_text(ins.get(), 2, kind);
    if (sqlite3_step(ins.get()) != SQLITE_DONE) {
      fail("saving history");
      return std::nullopt;
    }
    id = sqlite3_last_insert_rowid(db_);
  } else {
    fail("saving history");
    return std::nullopt;
  }
  history_ids_[probe] = {*id, kind};
  return id;
}

namespace {

// Columns 0..9 of a history row from `column` on: the aggregate.
history_bucket read_bucket(sqlite3_stmt* s, int column) {
  history_bucket b;
  b.step_s = sqlite3_column_int(s, column);
  b.start_ms = sqlite3_column_int64(s, column + 1) * 1000;
  b.runs = static_cast<std::uint32_t>(sqlite3_column_int64(s, column + 2));
  b.failed = static_cast<std::uint32_t>(sqlite3_column_int64(s, column + 3));
  b.timed_out = static_cast<std::uint32_t>(sqlite3_column_int64(s, column + 4));
  b.skipped = static_cast<std::uint32_t>(sqlite3_column_int64(s, column + 5));
  b.duration_min = static_cast<double>(sqlite3_column_int64(s, column + 6)) / 1e6;
  b.duration_sum = static_cast<double>(sqlite3_column_int64(s, column + 7)) / 1e6;
  b.duration_max = static_cast<double>(sqlite3_column_int64(s, column + 8)) / 1e6;
  for (int k = 0; k < 3; ++k)
    if (sqlite3_column_type(s, column + 9 + k) != SQLITE_NULL) b.keys[k] = sqlite3_column_double(s, column + 9 + k);
  // Counts beyond what a run can make are from a damaged file: not believed.
  if (b.failed + b.timed_out > b.runs) b.failed = b.timed_out = 0;
  return b;
}

constexpr const char* history_columns =
    "h.step_s, h.start_s, h.runs, h.failed, h.timed_out, h.skipped, h.duration_min_us, h.duration_sum_us, "
    "h.duration_max_us, h.key1, h.key2, h.key3";

}  // namespace

std::optional<std::vector<history_bucket>> state_store::load_history(const std::string& probe,
                                                                     std::chrono::seconds step,
                                                                     alerts::wall_clock::time_point since) {
  if (!ok()) return std::nullopt;
  const auto s = prepare((std::string("SELECT ") + history_columns +
                          " FROM history h JOIN history_probes p ON p.id = h.probe WHERE p.name = ?1 AND "
                          "h.step_s = ?2 AND h.start_s >= ?3 ORDER BY h.start_s")
                             .c_str(),
                         "reading history");
  if (!s) return std::nullopt;
  bind_text(s.get(), 1, probe);
  sqlite3_bind_int64(s.get(), 2, step.count());
  sqlite3_bind_int64(s.get(), 3, unix_ms(since) / 1000);
  std::vector<history_bucket> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(read_bucket(s.get(), 0));
  if (rc != SQLITE_DONE) {
    fail("reading history");
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<history_row>> state_store::load_recent_history(alerts::wall_clock::time_point now) {
  if (!ok()) return std::nullopt;
  const auto s = prepare((std::string("SELECT p.name, p.kind, ") + history_columns +
                          " FROM history h JOIN history_probes p ON p.id = h.probe WHERE (h.step_s = 60 AND "
                          "h.start_s >= ?1) OR (h.step_s = 600 AND h.start_s >= ?2) OR (h.step_s = 3600 AND "
                          "h.start_s >= ?3) ORDER BY h.start_s")
                             .c_str(),
                         "reading history");
  if (!s) return std::nullopt;
  const auto now_s = unix_ms(now) / 1000;
  sqlite3_bind_int64(s.get(), 1, now_s - 3600 - 60);
  sqlite3_bind_int64(s.get(), 2, now_s - 600);
  sqlite3_bind_int64(s.get(), 3, now_s - 7 * 24 * 3600 - 3600);
  std::vector<history_row> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
    out.push_back({column_text(s.get(), 0), column_text(s.get(), 1), read_bucket(s.get(), 2)});
  if (rc != SQLITE_DONE) {
    fail("reading history");
    return std::nullopt;
  }
  return out;
}

std::optional<std::int64_t> state_store::max_incident_id() {
  if (!ok()) return std::nullopt;
  const auto s = prepare("SELECT coalesce(max(id), 0) FROM incidents", "reading incidents");
  if (!s || sqlite3_step(s.get()) != SQLITE_ROW) {
    fail("reading incidents");
    return std::nullopt;
  }
  return sqlite3_column_int64(s.get(), 0);
}

std::optional<std::size_t> state_store::prune(const retention& keep, alerts::wall_clock::time_point now) {
  if (!ok()) return std::nullopt;
  // Incidents resolved longer than max_age ago; then, while more than max_incidents
  // are left, the oldest resolved ones. Open incidents always stay, and so
  // does the newest: its id is where new ids count on from.
  static constexpr const char* statements[] = {
      "DELETE FROM incidents WHERE resolved_ms < ?1 AND id < (SELECT max(id) FROM incidents)",
      "DELETE FROM incidents WHERE id IN (SELECT id FROM incidents WHERE resolved_ms IS NOT NULL "
      "AND id < (SELECT max(id) FROM incidents) ORDER BY id LIMIT max(0, (SELECT count(*) FROM incidents) - ?2))",
  };
  std::size_t gone = 0;
  for (const char* sql : statements) {
    const auto s = prepare(sql, "pruning incidents");
    if (!s) return std::nullopt;
    sqlite3_stmt* raw = s.get();
    if (sqlite3_bind_parameter_count(raw) == 1)
      sqlite3_bind_int64(raw, 1, unix_ms(now - keep.max_age));
    else
      sqlite3_bind_int64(raw, 2, static_cast<sqlite3_int64>(keep.max_incidents));
    if (sqlite3_step(raw) != SQLITE_DONE) {
      fail("pruning incidents");
      abandon();
      return std::nullopt;
    }
    gone += static_cast<std::size_t>(sqlite3_changes(db_));
  }
  for (const auto& tier : history_tiers) {
    const auto age = std::min<std::chrono::milliseconds>(tier.keep, keep.history_max_age);
    const auto s = prepare("DELETE FROM history WHERE step_s = ?1 AND start_s < ?2", "pruning history");
    if (!s) return std::nullopt;
    sqlite3_bind_int64(s.get(), 1, tier.step.count());
    sqlite3_bind_int64(s.get(), 2, unix_ms(now - age) / 1000);
    if (sqlite3_step(s.get()) != SQLITE_DONE) {
      fail("pruning history");
      abandon();
      return std::nullopt;
    }
  }
  return gone;
}

}  // namespace vitals
