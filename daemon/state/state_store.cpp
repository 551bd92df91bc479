#include "daemon/state/state_store.hpp"

#include "probes/core/time_format.hpp"

#include <boost/json.hpp>
#include <sqlite3.h>

#include <memory>

namespace vitals {

namespace json = boost::json;

namespace {

// Each entry moves the schema one version up; entry i makes version i + 1.
// Never edit a shipped entry: add one.
constexpr const char* migrations[] = {
    R"sql(
      CREATE TABLE alerts (
        rule TEXT NOT NULL,
        labels TEXT NOT NULL,            -- JSON object
        expr TEXT NOT NULL,              -- the rule's expression when saved
        state TEXT NOT NULL CHECK (state IN ('pending', 'firing')),
        value REAL,
        active_since_ms INTEGER NOT NULL,
        fired_at_ms INTEGER,
        last_seen_ms INTEGER NOT NULL,
        keep_firing_since_ms INTEGER,
        summary TEXT NOT NULL,
        description TEXT NOT NULL,
        runbook_url TEXT NOT NULL,
        evidence TEXT NOT NULL,
        incident_id INTEGER,
        PRIMARY KEY (rule, labels)
      );
      CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        alertname TEXT NOT NULL,
        severity TEXT NOT NULL,
        labels TEXT NOT NULL,            -- JSON object
        started_ms INTEGER NOT NULL,
        resolved_ms INTEGER,             -- NULL while it fires
        summary TEXT NOT NULL,
        runbook_url TEXT NOT NULL,
        evidence TEXT NOT NULL           -- JSON object
      );
      CREATE INDEX incidents_by_start ON incidents (started_ms);
    )sql",
};
static_assert(std::size(migrations) == state_store::schema_version);

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
  const auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return out;
  for (const auto& [k, val] : v.as_object())
    if (val.is_string()) out[std::string(k)] = std::string(val.as_string());
  return out;
}

state_store::state_store(std::string path, mode m) : path_(std::move(path)), mode_(m) { open(); }

state_store::~state_store() { close(); }

void state_store::close() {
  if (db_) sqlite3_close_v2(db_);
  db_ = nullptr;
}

bool state_store::fail(const std::string& what) {
  problem_ = what + (db_ ? std::string(": ") + sqlite3_errmsg(db_) : std::string());
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
  const int flags = mode_ == mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path_.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    fail("cannot open " + path_);
    close();
    return false;
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 2000);  // `vitalsd incidents` may be reading
  const bool good = exec("SELECT count(*) FROM sqlite_schema") && migrate();
  if (!good) {
    if (problem_.find(path_) == std::string::npos) problem_ = path_ + ": " + problem_;
    close();
    return false;
  }
  problem_.clear();
  return true;
}

bool state_store::migrate() {
  auto s = prepare("PRAGMA user_version", path_);
  if (!s || sqlite3_step(s.get()) != SQLITE_ROW) return fail(path_);
  const int version = sqlite3_column_int(s.get(), 0);
  s.reset();
  if (version > schema_version) {
    problem_ = path_ + ": schema version " + std::to_string(version) + " is newer than this vitalsd knows (" +
               std::to_string(schema_version) + "); left untouched";
    return false;
  }
  if (mode_ == mode::read_write) {
    // WAL: readers (vitalsd incidents) never block the daemon's writes.
    // Only now: a file this build refuses is left exactly as it was.
    s = prepare("PRAGMA journal_mode=WAL", path_);
    if (!s || sqlite3_step(s.get()) != SQLITE_ROW) return fail(path_);
    if (column_text(s.get(), 0) != "wal") {
      problem_ = path_ + ": cannot switch to WAL mode";
      return false;
    }
    s.reset();
    if (!exec("PRAGMA synchronous=NORMAL")) return false;
  }
  if (version == schema_version) return true;
  if (mode_ == mode::read_only) {
    problem_ = path_ + ": schema version " + std::to_string(version) + " needs the daemon to migrate it";
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

bool state_store::ok() { return db_ || open(); }

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

bool state_store::save(const std::vector<saved_alert>& active, const std::vector<incident>& incidents) {
  if (!ok()) return false;
  if (!exec("BEGIN IMMEDIATE")) {
    const std::string why = problem_;
    close();
    problem_ = why;
    return false;
  }
  auto rollback = [this](const std::string& what) {
    fail(what);
    const std::string why = problem_;
    exec("ROLLBACK");
    // A fresh connection next time: after an I/O error, a replaced file or
    // a failed rollback, this one may never work again.
    close();
    problem_ = why;
    return false;
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
  if (!exec("COMMIT")) return rollback("committing");
  return true;
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
      const std::string why = problem_;
      close();
      problem_ = why;
      return std::nullopt;
    }
    gone += static_cast<std::size_t>(sqlite3_changes(db_));
  }
  return gone;
}

}  // namespace vitals
