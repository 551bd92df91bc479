#pragma once

#include "probes/core/proc_text.hpp"
#include "probes/sqlite/sqlite_format.hpp"

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vitals {

enum class integrity_mode { none, quick, full };

// One process (or open file description) holding one of SQLite's locks.
struct sqlite_lock_holder {
  int pid = -1;  // -1: an OFD lock, owned by an open file rather than a process
  sqlite_lock_kind kind = sqlite_lock_kind::shared;  // the strongest this pid holds
  std::optional<process_identity> who;               // nullopt: exited or /proc/<pid> unreadable
};

// What the opt-in SQLite connection found.
struct integrity_outcome {
  enum class status { ok, malformed, not_a_database, busy, interrupted, skipped, error };
  status result = status::skipped;
  std::vector<std::string> messages;  // quick_check/integrity_check rows, or the error
  bool truncated = false;             // the check stopped at its row limit: there may be more
  std::string detail;                 // why skipped, or SQLite's error text
};

// Everything one lock-free look at a database found. Plain data, made on a
// pool thread and handed to the loop.
struct sqlite_inspection {
  int error = 0;  // errno of opening or reading the database; 0 when read
  // The path named another file, or none, when the check ended than when it
  // began: the application replaced or deleted the database meanwhile.
  bool replaced = false;
  bool deleted = false;

  std::uint64_t db_bytes = 0;
  // Sizes of the side files; nullopt when absent.
  std::optional<std::uint64_t> wal_bytes, journal_bytes, shm_bytes;

  sqlite_header_parse header;
  std::optional<wal_index_header> wal_index;  // from -shm, when it exists and is consistent

  // Every holder of a SQLite lock on the database or its -shm, strongest first.
  std::vector<sqlite_lock_holder> holders;
  // A -journal with a live header and no writer holding RESERVED or above.
  bool hot_journal = false;

  std::optional<integrity_outcome> integrity;  // only when asked for
};

struct sqlite_inspect_request {
  std::string path;  // absolute path of the database file
  integrity_mode integrity = integrity_mode::none;  // none: no SQLite connection at all
  std::string proc_root = "/proc";
};

// Blocking; runs on the pool. Takes no lock and creates no file: plain
// read-only opens (O_NOATIME where allowed), /proc/locks and F_OFD_GETLK.
// With an integrity mode, then opens a read-only SQLite connection — unless
// a writer holds RESERVED or above, or the check would have to create -shm —
// and stops early when `stop` is set. Throws nothing but std::bad_alloc.
sqlite_inspection inspect_sqlite(const sqlite_inspect_request& request, const std::atomic<bool>& stop);

}  // namespace vitals
