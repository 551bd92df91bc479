// SQLite's on-disk formats and lock bytes as the probe reads them, checked
// against files written by the real library and /proc/locks text in the
// kernel's own layout.

#include "probes/sqlite/sqlite_format.hpp"

#include "support/temp_env.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace vitals {
namespace {

std::vector<unsigned char> read_bytes(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes(n);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return bytes;
}

// A database written by libsqlite3 with the given statements.
std::string make_database(const test::temp_dir& dir, const std::string& sql) {
  const std::string path = dir.path() + "/app.db";
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
  return path;
}

TEST(sqlite_header, reads_what_the_library_wrote) {
  test::temp_dir dir;
  const auto path = make_database(dir,
                                  "PRAGMA page_size=8192; CREATE TABLE t(x); "
                                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<2000) "
                                  "INSERT INTO t SELECT randomblob(100) FROM n; DELETE FROM t WHERE rowid % 2 = 0;");
  const auto parsed = parse_sqlite_header(read_bytes(path, 100));
  ASSERT_TRUE(parsed.header);
  EXPECT_FALSE(parsed.problem);
  EXPECT_EQ(parsed.header->page_size, 8192u);
  EXPECT_FALSE(parsed.header->wal_mode);
  ASSERT_TRUE(parsed.header->page_count);
  const auto file_size = std::filesystem::file_size(path);
  EXPECT_EQ(std::uint64_t{*parsed.header->page_count} * 8192, file_size);
  EXPECT_GT(parsed.header->freelist_pages, 0u);  // half the rows deleted, no VACUUM
  EXPECT_GT(parsed.header->change_counter, 0u);
  EXPECT_EQ(parsed.header->sqlite_version, static_cast<std::uint32_t>(sqlite3_libversion_number()));
}

TEST(sqlite_header, wal_mode_is_read_from_the_version_bytes) {
  test::temp_dir dir;
  const auto path = make_database(dir, "PRAGMA journal_mode=WAL; CREATE TABLE t(x);");
  const auto parsed = parse_sqlite_header(read_bytes(path, 100));
  ASSERT_TRUE(parsed.header);
  EXPECT_TRUE(parsed.header->wal_mode);
}

TEST(sqlite_header, empty_file_is_an_empty_database) {
  const auto parsed = parse_sqlite_header({});
  EXPECT_FALSE(parsed.header);
  EXPECT_FALSE(parsed.problem);
}

TEST(sqlite_header, text_is_not_a_database) {
  const std::string text = "name,price\nmilk,2.49\n";
  const auto parsed = parse_sqlite_header(
      std::span(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
  ASSERT_TRUE(parsed.problem);
  EXPECT_EQ(parsed.problem->reason, "not_a_database");
}

TEST(sqlite_header, a_bad_page_size_is_malformed) {
  test::temp_dir dir;
  auto bytes = read_bytes(make_database(dir, "CREATE TABLE t(x);"), 100);
  bytes[16] = 0x03;  // 0x0300 = 768: not a power of two
  bytes[17] = 0x00;
  const auto parsed = parse_sqlite_header(bytes);
  ASSERT_TRUE(parsed.problem);
  EXPECT_EQ(parsed.problem->reason, "malformed");
  EXPECT_NE(parsed.problem->error.find("page size 768"), std::string::npos) << parsed.problem->error;
}

TEST(sqlite_header, page_size_one_means_65536) {
  test::temp_dir dir;
  const auto path = make_database(dir, "PRAGMA page_size=65536; CREATE TABLE t(x);");
  const auto parsed = parse_sqlite_header(read_bytes(path, 100));
  ASSERT_TRUE(parsed.header);
  EXPECT_EQ(parsed.header->page_size, 65536u);
}

TEST(sqlite_journal, only_a_nonzero_first_byte_can_be_hot) {
  const unsigned char zeroed[8] = {};
  const unsigned char magic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
  EXPECT_FALSE(is_live_journal_header(zeroed));
  EXPECT_TRUE(is_live_journal_header(magic));
  EXPECT_FALSE(is_live_journal_header({}));
}

// A wal-index header as a writer leaves it: two equal copies, then nBackfill.
std::vector<unsigned char> wal_index_bytes(std::uint32_t max_frame, std::uint32_t backfill) {
  std::vector<unsigned char> b(136, 0);
  auto put = [&b](std::size_t at, std::uint32_t v) { std::memcpy(b.data() + at, &v, 4); };
  put(0, 3007000);
  put(8, 7);           // iChange
  b[12] = 1;           // isInit
  const std::uint16_t page = 4096;
  std::memcpy(b.data() + 14, &page, 2);
  put(16, max_frame);
  put(20, 12);         // nPage
  std::memcpy(b.data() + 48, b.data(), 48);
  put(96, backfill);
  return b;
}

TEST(wal_index, lag_is_frames_not_yet_backfilled) {
  const auto h = parse_wal_index(wal_index_bytes(40, 25));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->max_frame, 40u);
  EXPECT_EQ(h->backfilled, 25u);
  EXPECT_EQ(h->db_pages, 12u);
  EXPECT_EQ(h->page_size, 4096u);
}

TEST(wal_index, copies_that_differ_mean_a_writer_is_mid_update) {
  auto b = wal_index_bytes(40, 25);
  b[48 + 16] = 41;  // the second copy says 41 frames
  EXPECT_FALSE(parse_wal_index(b));
}

TEST(wal_index, uninitialised_or_short_index_is_not_read) {
  auto b = wal_index_bytes(40, 25);
  b[12] = 0;
  b[48 + 12] = 0;
  EXPECT_FALSE(parse_wal_index(b));
  const auto full = wal_index_bytes(1, 0);
  EXPECT_FALSE(parse_wal_index(std::span(full).first(100)));
}

TEST(wal_index, reads_a_real_shm) {
  test::temp_dir dir;
  const std::string path = dir.path() + "/app.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x); "
                         "INSERT INTO t VALUES(1); INSERT INTO t VALUES(2); INSERT INTO t VALUES(3);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  // While the connection is open, -shm holds the index. The fd stays open
  // until the connection closed: closing it earlier would drop the
  // connection's own POSIX locks on -shm.
  const int shm = ::open((path + "-shm").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(shm, 0);
  auto read_index = [shm] {
    std::vector<unsigned char> b(136);
    b.resize(static_cast<std::size_t>(std::max<ssize_t>(0, ::pread(shm, b.data(), b.size(), 0))));
    return parse_wal_index(b);
  };
  const auto h = read_index();
  ASSERT_TRUE(h);
  EXPECT_GE(h->max_frame, 4u);  // one commit per statement, the table's page at least once each
  EXPECT_EQ(h->backfilled, 0u);  // no checkpoint ran
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA wal_checkpoint(PASSIVE);", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto after = read_index();
  sqlite3_close(db);
  ::close(shm);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->backfilled, after->max_frame);
}

TEST(proc_locks, parses_holders_waiters_and_ofd_locks) {
  const auto locks = parse_proc_locks(
      "1: POSIX  ADVISORY  WRITE 4242 fd:01:131099 1073741824 1073742335\n"
      "1: -> POSIX  ADVISORY  WRITE 4243 fd:01:131099 1073741824 1073741824\n"
      "2: OFDLCK ADVISORY  READ  -1 00:2f:7 128 128\n"
      "3: FLOCK  ADVISORY  WRITE 99 08:11:55 0 EOF\n"
      "4: LEASE  ACTIVE    READ 77 08:11:56 0 EOF\n"
      "garbage line\n");
  ASSERT_EQ(locks.size(), 5u);
  EXPECT_TRUE(locks[0].write);
  EXPECT_FALSE(locks[0].waiting);
  EXPECT_EQ(locks[0].pid, 4242);
  EXPECT_EQ(locks[0].dev_major, 0xfdu);
  EXPECT_EQ(locks[0].dev_minor, 1u);
  EXPECT_EQ(locks[0].inode, 131099u);
  EXPECT_EQ(locks[0].start, 1073741824u);
  EXPECT_EQ(locks[0].end, 1073742335u);
  EXPECT_TRUE(locks[1].waiting);
  EXPECT_EQ(locks[2].lock_class, "OFDLCK");
  EXPECT_EQ(locks[2].pid, -1);
  EXPECT_FALSE(locks[2].write);
  EXPECT_EQ(locks[2].dev_major, 0u);
  EXPECT_EQ(locks[2].dev_minor, 0x2fu);
  EXPECT_FALSE(locks[3].end);  // EOF
  EXPECT_EQ(locks[4].lock_class, "LEASE");
}

TEST(lock_meaning, rollback_mode_bytes) {
  const auto P = sqlite_pending_byte, R = sqlite_reserved_byte, S = sqlite_shared_first;
  EXPECT_EQ(classify_lock(false, false, S, S + 509), sqlite_lock_kind::shared);
  EXPECT_EQ(classify_lock(false, false, P, P), sqlite_lock_kind::shared);  // on its way to SHARED
  EXPECT_EQ(classify_lock(false, true, R, R), sqlite_lock_kind::reserved);
  EXPECT_EQ(classify_lock(false, true, P, P), sqlite_lock_kind::pending);
  EXPECT_EQ(classify_lock(false, true, S, S + 509), sqlite_lock_kind::exclusive);
  // The kernel merged PENDING, RESERVED and the SHARED range of one process.
  EXPECT_EQ(classify_lock(false, true, P, S + 509), sqlite_lock_kind::exclusive);
  EXPECT_EQ(classify_lock(false, true, 0, std::nullopt), sqlite_lock_kind::exclusive);  // whole file
  EXPECT_FALSE(classify_lock(false, true, 0, 100));  // an application's own lock
  EXPECT_FALSE(classify_lock(false, true, S + 510, S + 600));
}

TEST(lock_meaning, wal_mode_shm_slots) {
  EXPECT_EQ(classify_lock(true, true, 120, 120), sqlite_lock_kind::wal_write);
  EXPECT_EQ(classify_lock(true, true, 121, 121), sqlite_lock_kind::checkpoint);
  EXPECT_EQ(classify_lock(true, true, 122, 122), sqlite_lock_kind::recover);
  EXPECT_EQ(classify_lock(true, false, 124, 124), sqlite_lock_kind::shared);  // a reader's mark
  EXPECT_EQ(classify_lock(true, true, 120, 121), sqlite_lock_kind::wal_write);  // merged
  EXPECT_FALSE(classify_lock(true, false, 128, 128));  // the dead-man switch: merely open
  EXPECT_FALSE(classify_lock(true, false, 0, 119));
}

TEST(lock_meaning, only_writer_locks_block_writers) {
  EXPECT_FALSE(blocks_writers(sqlite_lock_kind::shared));
  EXPECT_FALSE(blocks_writers(sqlite_lock_kind::checkpoint));
  EXPECT_TRUE(blocks_writers(sqlite_lock_kind::reserved));
  EXPECT_TRUE(blocks_writers(sqlite_lock_kind::pending));
  EXPECT_TRUE(blocks_writers(sqlite_lock_kind::exclusive));
  EXPECT_TRUE(blocks_writers(sqlite_lock_kind::wal_write));
  EXPECT_EQ(to_string(sqlite_lock_kind::wal_write), "wal-write");
}

TEST(sqlite_integrity, a_multi_line_report_becomes_one_line_naming_the_first_damage) {
  // The rows PRAGMA quick_check(10) gives for a scribbled-over b-tree.
  const std::vector<std::string> rows = {
      "*** in database main ***\nPage 169: btreeInitPage() returns error code 11",
      "Tree 2 page 2 cell 0: 2nd reference to page 169", "Page 170 is never used", "Page 171 is never used"};
  const auto problems = integrity_problems(rows);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_EQ(problems.front(), "Page 169: btreeInitPage() returns error code 11");
  EXPECT_EQ(integrity_summary(problems, false), "page 169: btreeInitPage() returns error code 11 (and 3 more problems)");
  EXPECT_EQ(integrity_summary(problems, true),
            "page 169: btreeInitPage() returns error code 11 (and at least 3 more problems)");
}

TEST(sqlite_integrity, one_problem_is_named_alone_and_headers_are_never_problems) {
  EXPECT_EQ(integrity_summary(integrity_problems({"row 3 missing from index items_name\r\n"}), false),
            "row 3 missing from index items_name");
  EXPECT_TRUE(integrity_problems({"*** in database main ***", "", "*** in database temp ***\n"}).empty());
  EXPECT_EQ(integrity_summary({"a", "b"}, false), "a (and 1 more problem)");
}

}  // namespace
}  // namespace vitals
