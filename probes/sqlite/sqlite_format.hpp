#pragma once

// What SQLite's file formats and lock bytes say, parsed from raw bytes and
// /proc text: no SQLite library call, no lock, no write. Offsets are the ones
// SQLite documents (fileformat2, lockingv3, walformat). Pure functions, safe
// on any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

// The 100-byte database header.
struct sqlite_header {
  std::uint32_t page_size = 0;       // bytes, 512..65536
  bool wal_mode = false;             // read/write versions 2: journal_mode=WAL
  std::uint32_t change_counter = 0;  // bumped by every rollback-mode commit
  // In-header size in pages; nullopt when the header says it is stale
  // (written by a version that did not keep it), so the file size decides.
  std::optional<std::uint32_t> page_count;
  std::uint32_t freelist_pages = 0;
  std::uint32_t sqlite_version = 0;  // SQLITE_VERSION_NUMBER of the last writer, e.g. 3040001
};

constexpr std::size_t sqlite_header_size = 100;

// Why a file is not a usable database, judged from its first bytes alone.
struct sqlite_header_problem {
  std::string reason;  // not_a_database | malformed
  std::string error;   // one line
};

// Parses the first bytes of a database file. An empty file is an empty
// database to SQLite, so `bytes` may be empty: the result then has no
// header and no problem.
struct sqlite_header_parse {
  std::optional<sqlite_header> header;
  std::optional<sqlite_header_problem> problem;
};
sqlite_header_parse parse_sqlite_header(std::span<const unsigned char> bytes);

// Whether a rollback journal's first bytes can belong to a hot journal. By
// SQLite's own rule only the first byte counts: a writer leaves it zero
// until the journal is synced (nothing in the database changed yet), and
// journal_mode=PERSIST zeroes the header on commit.
bool is_live_journal_header(std::span<const unsigned char> bytes);

// The wal-index header at the start of `-shm`: two copies of 48 bytes, then
// the checkpoint info. Stored in the writer's native byte order.
struct wal_index_header {
  std::uint32_t max_frame = 0;   // last valid frame in the WAL
  std::uint32_t backfilled = 0;  // frames already copied into the database (nBackfill)
  std::uint32_t db_pages = 0;    // database size in pages after the last commit
  std::uint32_t page_size = 0;
  std::uint32_t change = 0;      // bumped by every WAL commit
};
constexpr std::size_t wal_index_bytes_needed = 136;
// nullopt when the two copies differ (a writer is mid-update: read again),
// the index is not initialised, or the bytes are too few or of another version.
std::optional<wal_index_header> parse_wal_index(std::span<const unsigned char> bytes);

// The problems a quick_check/integrity_check reported, one per entry. Its
// rows may span lines and open with a "*** in database main ***" header;
// headers and blank lines are dropped, every other line is a problem.
std::vector<std::string> integrity_problems(const std::vector<std::string>& rows);

// One line for a cause: the first problem, "Page 169: ..." as "page 169:
// ...", and how many more there are ("and 3 more problems"; "at least" when
// the check stopped at its row limit, `truncated`).
std::string integrity_summary(const std::vector<std::string>& problems, bool truncated);

// One line of /proc/locks.
struct proc_lock {
  bool write = false;        // WRITE; else READ
  bool waiting = false;      // "->": blocked, waiting for the lock, not holding it
  std::string lock_class;    // POSIX | OFDLCK | FLOCK | LEASE | DELEG
  int pid = -1;              // -1 for OFD locks: the holder is an open file, not a process
  unsigned dev_major = 0;
  unsigned dev_minor = 0;
  std::uint64_t inode = 0;
  std::uint64_t start = 0;
  std::optional<std::uint64_t> end;  // inclusive; nullopt: to end of file
};
std::vector<proc_lock> parse_proc_locks(std::string_view text);

// SQLite's lock bytes. In the database file (unix VFS, lockingv3):
constexpr std::uint64_t sqlite_pending_byte = 0x40000000;
constexpr std::uint64_t sqlite_reserved_byte = sqlite_pending_byte + 1;
constexpr std::uint64_t sqlite_shared_first = sqlite_pending_byte + 2;
constexpr std::uint64_t sqlite_shared_size = 510;
// In `-shm` (WAL mode): eight one-byte slots from offset 120 — write,
// checkpoint, recover, five read marks — then the "dead man switch" byte
// every open connection holds a read lock on.
constexpr std::uint64_t wal_lock_base = 120;
constexpr std::uint64_t wal_write_slot = wal_lock_base;
constexpr std::uint64_t wal_checkpoint_slot = wal_lock_base + 1;
constexpr std::uint64_t wal_recover_slot = wal_lock_base + 2;
constexpr std::uint64_t wal_read_first = wal_lock_base + 3;
constexpr std::uint64_t wal_read_count = 5;
constexpr std::uint64_t wal_dms_byte = wal_lock_base + 8;

// What a held lock means to SQLite, weakest first.
enum class sqlite_lock_kind { shared, recover, checkpoint, reserved, wal_write, pending, exclusive };
std::string_view to_string(sqlite_lock_kind kind);
// True for the locks that make another connection's write fail with
// SQLITE_BUSY: reserved, pending, exclusive, wal-write.
bool blocks_writers(sqlite_lock_kind kind);

// The strongest meaning of a lock over [start, end] (end inclusive; nullopt
// = to end of file) on the database file, or on `-shm` when `shm` is set.
// nullopt when the range touches no SQLite lock byte (an application's own
// lock, say).
std::optional<sqlite_lock_kind> classify_lock(bool shm, bool write, std::uint64_t start,
                                              std::optional<std::uint64_t> end);

}  // namespace vitals
