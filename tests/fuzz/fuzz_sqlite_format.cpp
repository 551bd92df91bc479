// What the SQLite probe reads without the library: the 100-byte database
// header, a rollback journal's first byte, the wal-index header of `-shm`,
// and /proc/locks text with the meaning of each lock. All from the same
// input: the bytes of a file another process wrote.
//
// Promises checked beyond "no crash": a header parse gives a header or a
// problem, never both, and neither only for an empty file; a header's page
// size is one SQLite allows.

#include "fuzz_input.hpp"

#include "probes/sqlite/sqlite_format.hpp"

#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using vitals::fuzz::require;
  const std::span<const unsigned char> bytes(data, size);

  const auto header = vitals::parse_sqlite_header(bytes);
  require(!(header.header && header.problem), "a database header is both read and refused");
  require(header.header || header.problem || size == 0, "a non-empty file is neither a database nor refused");
  if (header.header) {
    const auto page = header.header->page_size;
    require(page >= 512 && page <= 65536 && (page & (page - 1)) == 0, "a header's page size is not one SQLite allows");
  }
  if (header.problem) require(!header.problem->reason.empty(), "a refused header has no reason");

  (void)vitals::is_live_journal_header(bytes);
  (void)vitals::parse_wal_index(bytes);

  for (const auto& lock : vitals::parse_proc_locks(vitals::fuzz::as_text(data, size))) {
    for (bool shm : {false, true}) {
      if (const auto kind = vitals::classify_lock(shm, lock.write, lock.start, lock.end)) {
        (void)vitals::to_string(*kind);
        (void)vitals::blocks_writers(*kind);
      }
    }
  }
  return 0;
}
