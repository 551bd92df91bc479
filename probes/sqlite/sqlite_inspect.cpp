#include "probes/sqlite/sqlite_inspect.hpp"

#include "probes/core/text_file.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <memory>

namespace vitals {

namespace {

// A read-only fd that never creates the file. O_NOATIME keeps even the
// access time still where the kernel allows it (owner or CAP_FOWNER).
class read_only_file {
public:
  explicit read_only_file(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOATIME);
    if (fd_ < 0 && errno == EPERM) fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd_ < 0) error_ = errno;
  }
  ~read_only_file() {
    if (fd_ >= 0) ::close(fd_);
  }
  read_only_file(const read_only_file&) = delete;
  read_only_file& operator=(const read_only_file&) = delete;

  int fd() const { return fd_; }
  int error() const { return error_; }

  // Reads up to `n` bytes at `offset`; the errno on failure.
  int read_at(std::uint64_t offset, std::size_t n, std::vector<unsigned char>& out) const {
    out.resize(n);
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_, out.data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return 0;
  }

private:
  int fd_ = -1;
  int error_ = 0;
};

struct file_id {
  dev_t dev = 0;
  ino_t ino = 0;
  std::uint64_t size = 0;
  timespec mtime{};
  bool operator==(const file_id& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec;
  }
};

file_id id_of(const struct stat& st) {
  return {st.st_dev, st.st_ino, static_cast<std::uint64_t>(st.st_size), st.st_mtim};
}

std::optional<file_id> stat_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return id_of(st);
}

// pid -> strongest lock it holds.
using holder_map = std::map<int, sqlite_lock_kind>;

void note(holder_map& holders, int pid, sqlite_lock_kind kind) {
  auto [it, inserted] = holders.try_emplace(pid, kind);
  if (!inserted && it->second < kind) it->second = kind;
}

// Every holder /proc/locks lists on the file with this device and inode.
void add_proc_locks(const std::string& text, const file_id& file, bool shm, holder_map& holders) {
  for (const auto& l : parse_proc_locks(text)) {
    if (l.waiting || l.lock_class == "FLOCK" || l.lock_class == "LEASE" || l.lock_class == "DELEG") continue;
    if (l.inode != file.ino || l.dev_major != major(file.dev) || l.dev_minor != minor(file.dev)) continue;
    if (auto kind = classify_lock(shm, l.write, l.start, l.end)) note(holders, l.pid, *kind);
  }
}

// Asks the kernel whether a write lock on [start, start+len) would conflict,
// and with whom. Catches holders /proc/locks cannot match (a file seen
// through overlayfs has other device numbers there), one per range.
void add_conflicting_lock(int fd, bool shm, std::uint64_t start, std::uint64_t len, holder_map& holders) {
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = static_cast<off_t>(start);
  probe.l_len = static_cast<off_t>(len);
  probe.l_pid = 0;  // required by F_OFD_GETLK
  if (::fcntl(fd, F_OFD_GETLK, &probe) != 0 || probe.l_type == F_UNLCK) return;
  std::optional<std::uint64_t> end;
  if (probe.l_len > 0) end = static_cast<std::uint64_t>(probe.l_start + probe.l_len - 1);
  if (auto kind = classify_lock(shm, probe.l_type == F_WRLCK, static_cast<std::uint64_t>(probe.l_start), end))
    note(holders, probe.l_pid > 0 ? probe.l_pid : -1, *kind);
}

void add_database_conflicts(int fd, holder_map& holders) {
  add_conflicting_lock(fd, false, sqlite_pending_byte, 1, holders);
  add_conflicting_lock(fd, false, sqlite_reserved_byte, 1, holders);
  add_conflicting_lock(fd, false, sqlite_shared_first, sqlite_shared_size, holders);
}

void add_shm_conflicts(int fd, holder_map& holders) {
  add_conflicting_lock(fd, true, wal_write_slot, 1, holders);
  add_conflicting_lock(fd, true, wal_checkpoint_slot, 1, holders);
  add_conflicting_lock(fd, true, wal_recover_slot, 1, holders);
  add_conflicting_lock(fd, true, wal_read_first, wal_read_count, holders);
}

bool writer_holds(const holder_map& holders) {
  return std::any_of(holders.begin(), holders.end(), [](const auto& h) { return h.second >= sqlite_lock_kind::reserved; });
}

// Any lock on RESERVED or above in rollback mode, now.
bool reserved_held(int db_fd) {
  holder_map now;
  add_conflicting_lock(db_fd, false, sqlite_pending_byte, 1, now);
  add_conflicting_lock(db_fd, false, sqlite_reserved_byte, 1, now);
  return writer_holds(now);
}

std::optional<wal_index_header> read_wal_index(const read_only_file& shm) {
  std::vector<unsigned char> bytes;
  // A writer rewrites the two copies one after the other: read until they agree.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (shm.read_at(0, wal_index_bytes_needed, bytes) != 0) return std::nullopt;
    if (auto h = parse_wal_index(bytes)) return h;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// The opt-in connection.

struct connection_closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

integrity_outcome failed(int rc, sqlite3* db) {
  integrity_outcome o;
  const int primary = rc & 0xff;
  o.detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: o.result = integrity_outcome::status::busy; break;
    case SQLITE_CORRUPT: o.result = integrity_outcome::status::malformed; break;
    case SQLITE_NOTADB: o.result = integrity_outcome::status::not_a_database; break;
    case SQLITE_INTERRUPT:
      o.result = integrity_outcome::status::interrupted;
      o.detail = "stopped at the probe's deadline (raise the timeout, or use integrity_check: quick)";
      break;
    default: o.result = integrity_outcome::status::error; break;
  }
  return o;
}

// "file:" URI of an absolute path: '%', '?' and '#' (and bytes outside
// printable ASCII) percent-encoded.
std::string file_uri(const std::string& path) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (const unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c <= 0x20 || c >= 0x7f) {
      uri += '%';
      uri += hex[c >> 4];
      uri += hex[c & 0xf];
    } else {
      uri += static_cast<char>(c);
    }
  }
  return uri;
}

// `immutable`: open without any lock or side file, for a WAL database nobody
// has open (no -wal, no -shm) — a plain read-only open would create both.
integrity_outcome check_integrity(const std::string& path, integrity_mode mode, bool immutable,
                                  const std::atomic<bool>& stop) {
  sqlite3* raw = nullptr;
  const std::string name = immutable ? file_uri(path) + "?immutable=1" : path;
  int rc = sqlite3_open_v2(name.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, nullptr);
  std::unique_ptr<sqlite3, connection_closer> db(raw);
  if (rc != SQLITE_OK) return failed(rc, raw);
  sqlite3_extended_result_codes(raw, 1);
  // The last connection to a WAL database would otherwise try to take an
  // EXCLUSIVE lock and checkpoint when it closes.
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_busy_timeout(raw, 0);  // a writer holding the lock: SQLITE_BUSY at once, never wait
  sqlite3_progress_handler(
      raw, 1000, [](void* flag) { return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0; },
      const_cast<std::atomic<bool>*>(&stop));

  constexpr int max_messages = 10;
  const std::string sql = std::string(mode == integrity_mode::full ? "PRAGMA integrity_check(" : "PRAGMA quick_check(") +
                          std::to_string(max_messages) + ")";
  sqlite3_stmt* stmt = nullptr;
  rc = sqlite3_prepare_v2(raw, sql.c_str(), -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return failed(rc, raw);
  integrity_outcome o;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    o.messages.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return failed(rc, raw);
  o.truncated = o.messages.size() >= max_messages;
  o.result = o.messages.size() == 1 && o.messages.front() == "ok" ? integrity_outcome::status::ok
                                                                  : integrity_outcome::status::malformed;
  return o;
}

integrity_outcome skipped(std::string why) {
  integrity_outcome o;
  o.result = integrity_outcome::status::skipped;
  o.detail = std::move(why);
  return o;
}

}  // namespace

sqlite_inspection inspect_sqlite(const sqlite_inspect_request& request, const std::atomic<bool>& stop) {
  sqlite_inspection out;
  const std::string& path = request.path;
  std::optional<file_id> db_id;
  holder_map holders;

  // Every raw fd is closed before the SQLite connection below opens: closing
  // any fd of a file drops every POSIX lock this process holds on it,
  // including the connection's own.
  {
    read_only_file db(path);
    if (db.fd() < 0) {
      out.error = db.error();
      return out;
    }
    struct stat st {};
    if (::fstat(db.fd(), &st) != 0) {
      out.error = errno;
      return out;
    }
    if (S_ISDIR(st.st_mode)) {
      out.error = EISDIR;
      return out;
    }
    db_id = id_of(st);
    out.db_bytes = db_id->size;

    std::vector<unsigned char> bytes;
    if (const int err = db.read_at(0, sqlite_header_size, bytes); err != 0) {
      out.error = err;
      return out;
    }
    out.header = parse_sqlite_header(bytes);

    std::string locks_text;
    const bool have_proc_locks = read_text_file(request.proc_root + "/locks", locks_text) == 0;
    if (have_proc_locks) add_proc_locks(locks_text, *db_id, false, holders);
    add_database_conflicts(db.fd(), holders);

    const std::string shm_path = path + "-shm";
    if (auto shm_id = stat_path(shm_path)) {
      out.shm_bytes = shm_id->size;
      read_only_file shm(shm_path);
      if (shm.fd() >= 0) {
        if (have_proc_locks) add_proc_locks(locks_text, *shm_id, true, holders);
        add_shm_conflicts(shm.fd(), holders);
        out.wal_index = read_wal_index(shm);
      }
    }
    if (auto wal_id = stat_path(path + "-wal")) out.wal_bytes = wal_id->size;

    const std::string journal_path = path + "-journal";
    if (auto journal_id = stat_path(journal_path)) {
      out.journal_bytes = journal_id->size;
      // Hot: a live journal no writer owns (SQLite's own rule: no RESERVED
      // lock). Judged twice around the lock check, so a writer that commits
      // and starts again meanwhile is not mistaken for a crashed one.
      if (journal_id->size > 0 && !writer_holds(holders)) {
        read_only_file journal(journal_path);
        std::vector<unsigned char> head;
        if (journal.fd() >= 0 && journal.read_at(0, 1, head) == 0 && is_live_journal_header(head)) {
          const bool still_unowned = !reserved_held(db.fd());
          out.hot_journal = still_unowned && stat_path(journal_path) == journal_id;
        }
      }
    }

    // The path still names the file we read?
    struct stat now {};
    if (::stat(path.c_str(), &now) != 0) {
      out.deleted = errno == ENOENT;
      out.replaced = !out.deleted;
    } else if (now.st_dev != db_id->dev || now.st_ino != db_id->ino) {
      out.replaced = true;
    }
  }

  user_names users;
  for (const auto& [pid, kind] : holders) {
    sqlite_lock_holder h;
    h.pid = pid;
    h.kind = kind;
    if (pid > 0) h.who = read_process_identity(request.proc_root + "/" + std::to_string(pid), pid, users);
    out.holders.push_back(std::move(h));
  }
  std::stable_sort(out.holders.begin(), out.holders.end(),
                   [](const auto& a, const auto& b) { return a.kind > b.kind; });

  if (request.integrity == integrity_mode::none) return out;
  if (out.replaced || out.deleted || out.header.problem) {
    out.integrity = skipped("the file is not a readable database");
  } else if (writer_holds(holders)) {
    out.integrity = skipped("a writer holds a lock");
  } else if (out.hot_journal) {
    out.integrity = skipped("a hot journal is waiting to be rolled back");
  } else if (stop.load()) {
    out.integrity = skipped("the probe's deadline passed before it began");
  } else if (!out.header.header || !out.header.header->wal_mode || (out.wal_bytes && out.shm_bytes)) {
    // Rollback mode reads create no file; in WAL mode -wal and -shm exist.
    out.integrity = check_integrity(path, request.integrity, false, stop);
  } else if (out.wal_bytes || out.shm_bytes) {
    out.integrity = skipped("WAL database with only one of -wal and -shm: reading it would create the other");
  } else {
    // A WAL database nobody has open. Read it as immutable, and trust the
    // answer only if nobody opened or changed it meanwhile.
    out.integrity = check_integrity(path, request.integrity, true, stop);
    if (stat_path(path) != db_id || stat_path(path + "-wal") || stat_path(path + "-shm"))
      out.integrity = skipped("the database was opened or changed during the check");
  }
  return out;
}

}  // namespace vitals
