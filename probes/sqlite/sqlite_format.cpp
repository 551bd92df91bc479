#include "probes/sqlite/sqlite_format.hpp"

#include "probes/core/proc_text.hpp"

#include <algorithm>
#include <cstring>

namespace vitals {

namespace {

std::uint32_t be16(std::span<const unsigned char> b, std::size_t at) {
  return (std::uint32_t{b[at]} << 8) | b[at + 1];
}

std::uint32_t be32(std::span<const unsigned char> b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) |
         b[at + 3];
}

std::uint32_t native32(std::span<const unsigned char> b, std::size_t at) {
  std::uint32_t v = 0;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

std::uint16_t native16(std::span<const unsigned char> b, std::size_t at) {
  std::uint16_t v = 0;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

bool overlaps(std::uint64_t start, std::optional<std::uint64_t> end, std::uint64_t first, std::uint64_t count) {
  const std::uint64_t last = first + count - 1;
  return start <= last && (!end || *end >= first);
}

}  // namespace

sqlite_header_parse parse_sqlite_header(std::span<const unsigned char> bytes) {
  sqlite_header_parse out;
  if (bytes.empty()) return out;
  static constexpr char magic[] = "SQLite format 3";  // with its NUL: 16 bytes
  if (bytes.size() < sqlite_header_size || std::memcmp(bytes.data(), magic, sizeof magic) != 0) {
    out.problem = sqlite_header_problem{"not_a_database", "file is not a database (no SQLite header)"};
    return out;
  }
  sqlite_header h;
  const std::uint32_t raw_page_size = be16(bytes, 16);
  h.page_size = raw_page_size == 1 ? 65536 : raw_page_size;
  if (h.page_size < 512 || h.page_size > 65536 || (h.page_size & (h.page_size - 1)) != 0) {
    out.problem = sqlite_header_problem{
        "malformed", "database header is corrupt: page size " + std::to_string(raw_page_size) + " is not valid"};
    return out;
  }
  const unsigned write_version = bytes[18];
  const unsigned read_version = bytes[19];
  if (write_version < 1 || write_version > 2 || read_version < 1 || read_version > 2) {
    out.problem = sqlite_header_problem{"malformed", "database header is corrupt: file format versions " +
                                                         std::to_string(write_version) + "/" +
                                                         std::to_string(read_version)};
    return out;
  }
  h.wal_mode = write_version == 2 && read_version == 2;
  h.change_counter = be32(bytes, 24);
  const std::uint32_t in_header_pages = be32(bytes, 28);
  // Valid only when the "version-valid-for" number matches the change
  // counter: an older writer may have changed the file without updating it.
  if (in_header_pages != 0 && be32(bytes, 92) == h.change_counter) h.page_count = in_header_pages;
  h.freelist_pages = be32(bytes, 36);
  h.sqlite_version = be32(bytes, 96);
  out.header = h;
  return out;
}

bool is_live_journal_header(std::span<const unsigned char> bytes) { return !bytes.empty() && bytes[0] != 0; }

std::optional<wal_index_header> parse_wal_index(std::span<const unsigned char> bytes) {
  constexpr std::size_t copy_size = 48;
  if (bytes.size() < wal_index_bytes_needed) return std::nullopt;
  if (std::memcmp(bytes.data(), bytes.data() + copy_size, copy_size) != 0) return std::nullopt;
  constexpr std::uint32_t wal_index_version = 3007000;
  if (native32(bytes, 0) != wal_index_version || bytes[12] == 0) return std::nullopt;
  wal_index_header h;
  h.change = native32(bytes, 8);
  const std::uint32_t raw_page_size = native16(bytes, 14);
  h.page_size = raw_page_size == 1 ? 65536 : raw_page_size;
  h.max_frame = native32(bytes, 16);
  h.db_pages = native32(bytes, 20);
  h.backfilled = native32(bytes, 96);  // first field of the checkpoint info after the two copies
  return h;
}

std::vector<proc_lock> parse_proc_locks(std::string_view text) {
  // "1: POSIX  ADVISORY  WRITE 4242 fd:00:1234 1073741824 1073741824"
  // "1: -> POSIX  ADVISORY  WRITE 4243 fd:00:1234 1073741824 1073741824"
  std::vector<proc_lock> locks;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);

    auto f = split_whitespace(line);
    if (f.size() < 2) continue;
    std::size_t i = 1;  // after "N:"
    proc_lock l;
    if (f[i] == "->") {
      l.waiting = true;
      ++i;
    }
    if (f.size() < i + 7) continue;
    l.lock_class = std::string(f[i]);
    const auto type = f[i + 2];
    if (type != "READ" && type != "WRITE") continue;  // leases, UNLCK
    l.write = type == "WRITE";
    if (!parse_int(f[i + 3], l.pid)) continue;
    const auto id = f[i + 4];  // major:minor:inode, the device numbers in hex
    const auto c1 = id.find(':');
    const auto c2 = id.find(':', c1 == std::string_view::npos ? c1 : c1 + 1);
    if (c1 == std::string_view::npos || c2 == std::string_view::npos) continue;
    if (!parse_int(id.substr(0, c1), l.dev_major, 16) || !parse_int(id.substr(c1 + 1, c2 - c1 - 1), l.dev_minor, 16) ||
        !parse_int(id.substr(c2 + 1), l.inode))
      continue;
    if (!parse_int(f[i + 5], l.start)) continue;
    if (f[i + 6] != "EOF") {
      std::uint64_t end = 0;
      if (!parse_int(f[i + 6], end)) continue;
      l.end = end;
    }
    locks.push_back(std::move(l));
  }
  return locks;
}

std::string_view to_string(sqlite_lock_kind kind) {
  switch (kind) {
    case sqlite_lock_kind::shared: return "shared";
    case sqlite_lock_kind::recover: return "recover";
    case sqlite_lock_kind::checkpoint: return "checkpoint";
    case sqlite_lock_kind::reserved: return "reserved";
    case sqlite_lock_kind::wal_write: return "wal-write";
    case sqlite_lock_kind::pending: return "pending";
    case sqlite_lock_kind::exclusive: return "exclusive";
  }
  return "unknown";
}

bool blocks_writers(sqlite_lock_kind kind) {
  return kind == sqlite_lock_kind::reserved || kind == sqlite_lock_kind::pending ||
         kind == sqlite_lock_kind::exclusive || kind == sqlite_lock_kind::wal_write;
}

std::optional<sqlite_lock_kind> classify_lock(bool shm, bool write, std::uint64_t start,
                                              std::optional<std::uint64_t> end) {
  if (end && *end < start) return std::nullopt;
  // The kernel merges a process's adjacent locks of one type, so a single
  // range can cover several lock bytes: take the strongest meaning.
  std::optional<sqlite_lock_kind> kind;
  auto raise = [&](sqlite_lock_kind k) {
    if (!kind || *kind < k) kind = k;
  };
  if (shm) {
    if (write) {
      if (overlaps(start, end, wal_write_slot, 1)) raise(sqlite_lock_kind::wal_write);
      if (overlaps(start, end, wal_checkpoint_slot, 1)) raise(sqlite_lock_kind::checkpoint);
      if (overlaps(start, end, wal_recover_slot, 1)) raise(sqlite_lock_kind::recover);
      // Exclusive on a read mark: a writer or checkpointer moving it, briefly.
      if (overlaps(start, end, wal_read_first, wal_read_count)) raise(sqlite_lock_kind::checkpoint);
    } else if (overlaps(start, end, wal_read_first, wal_read_count)) {
      raise(sqlite_lock_kind::shared);  // a reader pinned to a snapshot
    }
    return kind;
  }
  if (write) {
    if (overlaps(start, end, sqlite_shared_first, sqlite_shared_size)) raise(sqlite_lock_kind::exclusive);
    if (overlaps(start, end, sqlite_pending_byte, 1)) raise(sqlite_lock_kind::pending);
    if (overlaps(start, end, sqlite_reserved_byte, 1)) raise(sqlite_lock_kind::reserved);
  } else if (overlaps(start, end, sqlite_shared_first, sqlite_shared_size) ||
             overlaps(start, end, sqlite_pending_byte, 1)) {
    // A read lock on PENDING is a reader on its way to SHARED.
    raise(sqlite_lock_kind::shared);
  }
  return kind;
}

std::vector<std::string> integrity_problems(const std::vector<std::string>& rows) {
  std::vector<std::string> out;
  for (const auto& row : rows) {
    std::string_view rest = row;
    while (!rest.empty()) {
      const auto end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      const bool header = line.starts_with("*** ") && line.ends_with(" ***");
      if (!line.empty() && !header) out.emplace_back(line);
    }
  }
  return out;
}

std::string integrity_summary(const std::vector<std::string>& problems, bool truncated) {
  if (problems.empty()) return "no problem named";
  std::string first = problems.front();
  if (first.starts_with("Page ")) first[0] = 'p';
  const auto more = problems.size() - 1;
  if (more == 0 && !truncated) return first;
  return first + " (and " + (truncated ? "at least " : "") + std::to_string(more) + " more problem" +
         (more == 1 ? "" : "s") + ")";
}

}  // namespace vitals
