// The SQLite probe against real databases held by real second processes:
// the sqlite3 shell holding locks, a writer killed mid-transaction, a
// writer committing in a tight loop, and files that are not databases.

#include "probes/sqlite/sqlite_probe.hpp"

#include "support/as_nobody.hpp"
#include "support/run_probe.hpp"
#include "support/sqlite_shell.hpp"
#include "support/temp_env.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using test::describe;
using test::evidence_value;
using test::run_sql;
using test::sample_value;
using test::sqlite_shell;

// Label sets of every vitals_sqlite_lock_holder_info sample.
std::vector<label_set> holders(const probe_result& r) {
  std::vector<label_set> found;
  for (const auto& s : r.samples)
    if (s.name == "vitals_sqlite_lock_holder_info") found.push_back(s.labels);
  return found;
}

std::optional<double> file_bytes(const probe_result& r, const std::string& file) {
  for (const auto& s : r.samples)
    if (s.name == "vitals_sqlite_file_bytes" && s.labels.at("file") == file) return s.value;
  return std::nullopt;
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// What "unchanged" means: every file's bytes and mtime, and the set of names.
struct directory_state {
  std::map<std::string, std::string> bytes;
  std::map<std::string, std::int64_t> mtime_ns;

  // `shared_memory`: a -shm, whose bytes and mtime readers may change.
  static directory_state of(const std::string& dir, const std::string& shared_memory = "") {
    directory_state st;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      const std::string name = e.path().filename();
      struct stat info {};
      ::stat(e.path().c_str(), &info);
      const bool skip = name == shared_memory;
      st.mtime_ns[name] = skip ? 0 : std::int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec;
      st.bytes[name] = skip ? "" : read_whole(e.path());
    }
    return st;
  }
  bool operator==(const directory_state&) const = default;
};

std::string names(const directory_state& st) {
  std::string text;
  for (const auto& [name, _] : st.bytes) text += name + " ";
  return text;
}

class sqlite_probe_run : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  test::temp_dir dir;

  ~sqlite_probe_run() override { pool.join(); }  // before io: pool work posts back to it

  std::string db(const std::string& name = "app.db") const { return dir.path() + "/" + name; }

  sqlite_probe make(const std::string& path, integrity_mode integrity = integrity_mode::none) {
    sqlite_probe::settings s;
    s.path = path;
    s.integrity = integrity;
    return sqlite_probe(s, ctx);
  }

  probe_result run(sqlite_probe& p) { return test::run_once(io, p); }

  // A writer in another process commits in a tight loop with busy_timeout=0
  // while the probe runs every 10 ms; the writer must never see SQLITE_BUSY.
  void expect_no_busy_while_probing(sqlite_probe& p, const std::string& path);

  // A rollback-journal database with a table of `rows` rows.
  std::string make_db(const std::string& name = "app.db", int rows = 100) {
    const std::string path = db(name);
    run_sql(path, "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL);"
                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<" +
                      std::to_string(rows) +
                      ") INSERT INTO items(name, price) SELECT 'item ' || i || hex(randomblob(40)), i * 0.5 FROM n;");
    return path;
  }
};

TEST_F(sqlite_probe_run, healthy_database_is_ok_and_measured) {
  const auto path = make_db("app.db", 2000);
  auto p = make(path);
  const auto r = run(p);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(sample_value(r, "vitals_sqlite_locked"), 0);
  EXPECT_EQ(sample_value(r, "vitals_sqlite_lock_held_seconds"), 0);
  EXPECT_TRUE(holders(r).empty());
  const auto size = std::filesystem::file_size(path);
  EXPECT_EQ(file_bytes(r, "db"), static_cast<double>(size));
  EXPECT_EQ(file_bytes(r, "wal"), 0);
  EXPECT_EQ(file_bytes(r, "journal"), 0);
  EXPECT_EQ(sample_value(r, "vitals_sqlite_pages"), static_cast<double>(size / 4096));
  EXPECT_EQ(sample_value(r, "vitals_sqlite_freelist_pages"), 0);
  EXPECT_FALSE(sample_value(r, "vitals_sqlite_wal_checkpoint_lag_frames"));  // not WAL
  EXPECT_FALSE(sample_value(r, "vitals_sqlite_integrity_ok"));               // not asked for
  EXPECT_EQ(evidence_value(r, "journal mode"), "rollback");
}

TEST_F(sqlite_probe_run, exclusive_lock_of_a_sqlite3_shell_names_the_shell_and_the_time_it_is_held) {
  const auto path = make_db();
  sqlite_shell shell(path);
  shell.run("BEGIN EXCLUSIVE;");
  auto p = make(path);

  const auto first = run(p);
  EXPECT_FALSE(first.ok);
  EXPECT_EQ(first.reason, "locked") << describe(first);
  EXPECT_EQ(sample_value(first, "vitals_sqlite_locked"), 1);
  const auto found = holders(first);
  ASSERT_EQ(found.size(), 1u) << describe(first);
  EXPECT_EQ(found[0].at("pid"), std::to_string(shell.pid()));
  EXPECT_EQ(found[0].at("process"), "sqlite3");
  EXPECT_EQ(found[0].at("lock"), "exclusive");
  EXPECT_NE(first.error.find("exclusive lock held by sqlite3 (pid " + std::to_string(shell.pid()) + ")"),
            std::string::npos)
      << first.error;
  EXPECT_NE(evidence_value(first, "lock holder").find("sqlite3 -batch " + path), std::string::npos)
      << describe(first);

  // The same shell still holds it: one continuous hold, measured from the first sighting.
  const auto held_first = *sample_value(first, "vitals_sqlite_lock_held_seconds");
  std::this_thread::sleep_for(20ms);
  const auto second = run(p);
  EXPECT_GE(*sample_value(second, "vitals_sqlite_lock_held_seconds"), held_first + 0.02) << describe(second);

  shell.run("COMMIT;");
  const auto released = run(p);
  EXPECT_TRUE(released.ok) << describe(released);
  EXPECT_EQ(sample_value(released, "vitals_sqlite_locked"), 0);
  EXPECT_EQ(sample_value(released, "vitals_sqlite_lock_held_seconds"), 0);
  EXPECT_TRUE(holders(released).empty()) << describe(released);
}

TEST_F(sqlite_probe_run, reserved_lock_of_a_pending_write_is_locked) {
  const auto path = make_db();
  sqlite_shell shell(path);
  shell.run("BEGIN IMMEDIATE; UPDATE items SET price = price + 1 WHERE id = 1;");
  auto p = make(path);
  const auto r = run(p);
  EXPECT_EQ(r.reason, "locked") << describe(r);
  const auto found = holders(r);
  ASSERT_EQ(found.size(), 1u) << describe(r);
  EXPECT_EQ(found[0].at("lock"), "reserved");
  EXPECT_EQ(found[0].at("pid"), std::to_string(shell.pid()));
  // An open write transaction has a journal, and it is not hot: its writer is alive.
  EXPECT_GT(*file_bytes(r, "journal"), 0) << describe(r);
}

TEST_F(sqlite_probe_run, a_reader_is_listed_but_does_not_lock_the_database) {
  const auto path = make_db();
  sqlite_shell shell(path);
  shell.run("BEGIN; SELECT count(*) FROM items;");
  auto p = make(path);
  const auto r = run(p);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(sample_value(r, "vitals_sqlite_locked"), 0);
  const auto found = holders(r);
  ASSERT_EQ(found.size(), 1u) << describe(r);
  EXPECT_EQ(found[0].at("lock"), "shared");
  shell.run("COMMIT;");
}

TEST_F(sqlite_probe_run, wal_write_transaction_is_locked_and_checkpoint_lag_is_read_from_shm) {
  const auto path = make_db();
  run_sql(path, "PRAGMA journal_mode=WAL;");
  sqlite_shell shell(path);
  shell.run(
      "PRAGMA wal_autocheckpoint=0;"
      "UPDATE items SET price = price + 1;"
      "UPDATE items SET price = price + 1;"
      "BEGIN IMMEDIATE; INSERT INTO items(name, price) VALUES('pending', 1);");
  auto p = make(path);
  const auto r = run(p);
  EXPECT_EQ(r.reason, "locked") << describe(r);
  EXPECT_EQ(sample_value(r, "vitals_sqlite_locked"), 1);
  const auto found = holders(r);
  ASSERT_EQ(found.size(), 1u) << describe(r);
  EXPECT_EQ(found[0].at("lock"), "wal-write");
  EXPECT_EQ(found[0].at("pid"), std::to_string(shell.pid()));
  EXPECT_EQ(evidence_value(r, "journal mode"), "wal");

  // Two committed updates of every page, no checkpoint: the lag is at
  // least the table's pages twice, and the -wal holds those frames.
  const auto lag = sample_value(r, "vitals_sqlite_wal_checkpoint_lag_frames");
  ASSERT_TRUE(lag) << describe(r);
  EXPECT_GE(*lag, 2.0);
  EXPECT_GE(*file_bytes(r, "wal"), 32 + *lag * (24 + 4096)) << describe(r);
  EXPECT_GT(*file_bytes(r, "shm"), 0);

  // A checkpoint by the application brings the lag to zero.
  shell.run("COMMIT; PRAGMA wal_checkpoint(PASSIVE);");
  const auto after = run(p);
  EXPECT_TRUE(after.ok) << describe(after);
  EXPECT_EQ(sample_value(after, "vitals_sqlite_wal_checkpoint_lag_frames"), 0) << describe(after);
  // Still connected: a WAL connection keeps a shared lock on the database.
  ASSERT_EQ(holders(after).size(), 1u) << describe(after);
  EXPECT_EQ(holders(after)[0].at("lock"), "shared");
}

TEST_F(sqlite_probe_run, writer_killed_mid_transaction_leaves_a_hot_journal) {
  const auto path = make_db("app.db", 3000);
  {
    sqlite_shell writer(path);
    // A one-page cache makes the writer spill: it syncs the journal and
    // overwrites database pages before the commit that never comes.
    writer.run("PRAGMA cache_size=1; BEGIN; UPDATE items SET name = upper(name), price = price * 2;");
    writer.kill_hard();
  }
  auto p = make(path);
  const auto r = run(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "hot_journal") << describe(r);
  EXPECT_GT(*file_bytes(r, "journal"), 0);
  EXPECT_EQ(sample_value(r, "vitals_sqlite_locked"), 0);

  // SQLite agrees: the next connection rolls the journal back.
  EXPECT_NE(sqlite_shell(path).run("SELECT count(*) FROM items WHERE name = upper(name);").find("0\n"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path + "-journal"));
  const auto after = run(p);
  EXPECT_TRUE(after.ok) << describe(after);
}

TEST_F(sqlite_probe_run, text_file_is_not_a_database) {
  const auto path = db("notes.db");
  std::ofstream(path) << "this is a shopping list, not a database\n";
  auto p = make(path, integrity_mode::quick);
  const auto r = run(p);
  EXPECT_EQ(r.reason, "not_a_database") << describe(r);
  EXPECT_FALSE(sample_value(r, "vitals_sqlite_pages"));
}

TEST_F(sqlite_probe_run, corrupt_header_is_malformed_without_a_connection) {
  const auto path = make_db();
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16);
    f.write("\x03\x00", 2);  // page size 768
  }
  auto p = make(path);
  const auto r = run(p);
  EXPECT_EQ(r.reason, "malformed") << describe(r);
  EXPECT_NE(r.error.find("page size"), std::string::npos) << r.error;
}

TEST_F(sqlite_probe_run, damaged_pages_are_found_by_the_opt_in_check) {
  const auto path = make_db("app.db", 3000);
  {
    // Scribble over the middle of the table's b-tree.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 5 + 7);
    const std::string junk(3000, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto lock_free = make(path);
  EXPECT_TRUE(run(lock_free).ok);  // the header is fine: the default run cannot see inside

  auto checked = make(path, integrity_mode::quick);
  const auto r = run(checked);
  EXPECT_EQ(r.reason, "malformed") << describe(r);
  EXPECT_EQ(sample_value(r, "vitals_sqlite_integrity_ok"), 0);
  EXPECT_NE(evidence_value(r, "integrity").find("quick_check: "), std::string::npos) << describe(r);
  // The cause is one line naming the damage, not quick_check's header.
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("***"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(path + " is malformed: "), std::string::npos) << r.error;
  // Every problem the check named is in the evidence, also on one line.
  const auto evidence = evidence_value(r, "integrity");
  EXPECT_EQ(evidence.find('\n'), std::string::npos) << evidence;
  const auto first = r.error.substr(r.error.find(" is malformed: ") + 15, 20);
  EXPECT_NE(evidence.find(first.substr(1)), std::string::npos) << evidence << " / " << first;
}

TEST_F(sqlite_probe_run, intact_database_passes_the_full_check) {
  const auto path = make_db("app.db", 3000);
  run_sql(path, "CREATE INDEX items_name ON items(name);");
  auto p = make(path, integrity_mode::full);
  const auto r = run(p);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(sample_value(r, "vitals_sqlite_integrity_ok"), 1);
  EXPECT_EQ(evidence_value(r, "integrity"), "integrity_check: ok");
}

TEST_F(sqlite_probe_run, missing_file_and_directory_are_clear_failures) {
  auto missing = make(db("gone.db"));
  const auto r = run(missing);
  EXPECT_EQ(r.reason, "missing") << describe(r);
  EXPECT_NE(r.error.find("gone.db does not exist"), std::string::npos) << r.error;

  auto directory = make(dir.path());
  EXPECT_EQ(run(directory).reason, "not_a_database");
}

TEST_F(sqlite_probe_run, unreadable_file_is_permission_denied) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to nobody";
  const auto path = make_db();
  ::chmod(path.c_str(), 0600);  // root's; nobody may not read it
  ::chmod(dir.path().c_str(), 0755);
  const auto report = test::parse_report(test::run_as_nobody([&]() -> std::string {
    asio::io_context child_io;
    asio::thread_pool child_pool{1};
    probe_context child_ctx{child_io, child_pool};
    sqlite_probe::settings s;
    s.path = path;
    sqlite_probe p(s, child_ctx);
    const auto r = test::run_once(child_io, p);
    child_pool.join();
    return "reason=" + r.reason + "\nerror=" + r.error + "\n";
  }));
  EXPECT_EQ(report.at("reason"), "permission") << report.at("error");
  EXPECT_NE(report.at("error").find("permission denied"), std::string::npos) << report.at("error");
}

TEST_F(sqlite_probe_run, database_replaced_between_runs_is_read_afresh) {
  const auto path = make_db("app.db", 10);
  auto p = make(path);
  EXPECT_TRUE(run(p).ok);
  const auto replacement = make_db("new.db", 3000);
  std::filesystem::rename(replacement, path);
  const auto r = run(p);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(file_bytes(r, "db"), static_cast<double>(std::filesystem::file_size(path)));
}

// Renames a fresh copy over the database as fast as it can while the probe
// runs: every run must end in a result, never a crash or a thrown error.
TEST_F(sqlite_probe_run, database_replaced_or_deleted_during_runs_never_breaks_a_run) {
  const auto path = make_db("app.db", 10);
  const auto spare = make_db("spare.db", 10);
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    for (int i = 0; !stop; ++i) {
      std::error_code ec;
      std::filesystem::copy_file(spare, path + ".tmp", std::filesystem::copy_options::overwrite_existing, ec);
      if (i % 3 == 0) std::filesystem::remove(path, ec);
      std::filesystem::rename(path + ".tmp", path, ec);
    }
  });
  auto p = make(path);
  std::map<std::string, int> outcomes;
  for (int i = 0; i < 300; ++i) {
    const auto r = run(p);
    ++outcomes[r.ok ? "ok" : r.reason];
  }
  stop = true;
  churn.join();
  std::string seen;
  for (const auto& [k, n] : outcomes) seen += k + "=" + std::to_string(n) + " ";
  for (const auto& [k, n] : outcomes)
    EXPECT_TRUE(k == "ok" || k == "missing" || k == "replaced" || k == "not_a_database") << seen;
  EXPECT_GT(outcomes["ok"], 0) << seen;
}

// Probing leaves every byte, every mtime and the directory listing alone:
// a rollback database, a WAL database an application has open (its -wal and
// -shm exist), and a WAL database nobody has open (no -wal, no -shm).
TEST_F(sqlite_probe_run, probing_never_changes_a_database_or_creates_a_file) {
  const auto rollback = make_db("rollback.db", 500);
  const auto wal_open = make_db("wal-open.db", 500);
  const auto wal_closed = make_db("wal-closed.db", 500);
  run_sql(wal_open, "PRAGMA journal_mode=WAL;");
  run_sql(wal_closed, "PRAGMA journal_mode=WAL; INSERT INTO items(name) VALUES('x');");
  ASSERT_FALSE(std::filesystem::exists(wal_closed + "-wal"));
  sqlite_shell app(wal_open);
  app.run("PRAGMA wal_autocheckpoint=0; INSERT INTO items(name, price) VALUES('in the wal', 1);");
  ASSERT_TRUE(std::filesystem::exists(wal_open + "-wal"));
  ASSERT_TRUE(std::filesystem::exists(wal_open + "-shm"));

  // -shm is shared memory the connections coordinate through, not the
  // database: a reader may move a read mark in it. Its bytes and mtime are
  // left out; that it exists, and that nothing else appears, are not.
  const auto before = directory_state::of(dir.path(), "wal-open.db-shm");
  for (const auto mode : {integrity_mode::none, integrity_mode::quick, integrity_mode::full}) {
    for (const auto& path : {rollback, wal_open, wal_closed}) {
      auto p = make(path, mode);
      for (int i = 0; i < 5; ++i) {
        const auto r = run(p);
        EXPECT_TRUE(r.ok) << path << ": " << describe(r);
      }
      if (mode != integrity_mode::none) {
        auto p2 = make(path, mode);
        EXPECT_EQ(sample_value(run(p2), "vitals_sqlite_integrity_ok"), 1) << path;
      }
    }
  }
  const auto after = directory_state::of(dir.path(), "wal-open.db-shm");
  EXPECT_EQ(names(after), names(before));
  EXPECT_TRUE(after.mtime_ns == before.mtime_ns);
  EXPECT_TRUE(after.bytes == before.bytes);
}

// A writer in another process commits as fast as it can with busy_timeout=0
// while the probe looks every 10 ms. Any lock the probe took would show up
// as SQLITE_BUSY in the writer: there must be none.
class busy_writer {
public:
  explicit busy_writer(const std::string& path) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    int go[2];
    if (::pipe2(go, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      ::close(go[1]);
      sqlite3* db = nullptr;
      sqlite3_open(path.c_str(), &db);
      sqlite3_busy_timeout(db, 0);
      long commits = 0, busy = 0, other = 0;
      char stop_byte = 0;
      ::fcntl(go[0], F_SETFL, O_NONBLOCK);
      test::write_all(fds[1], "ready\n");
      while (::read(go[0], &stop_byte, 1) < 0 && errno == EAGAIN) {
        const int rc = sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO items(name, price) VALUES('w', 1); COMMIT;",
                                    nullptr, nullptr, nullptr);
        if (rc == SQLITE_OK) {
          ++commits;
        } else {
          (rc & 0xff) == SQLITE_BUSY ? ++busy : ++other;
          sqlite3_exec(db, "ROLLBACK;", nullptr, nullptr, nullptr);
        }
      }
      sqlite3_close(db);
      test::write_all(fds[1], "commits=" + std::to_string(commits) + "\nbusy=" + std::to_string(busy) +
                                   "\nother=" + std::to_string(other) + "\n");
      ::_exit(0);
    }
    ::close(fds[1]);
    ::close(go[0]);
    out_ = fds[0];
    go_ = go[1];
    char ready[6];
    EXPECT_EQ(::read(out_, ready, sizeof ready), 6);
  }
  // Stops the writer and returns its counts.
  std::map<std::string, std::string> finish() {
    test::write_all(go_, "x");
    ::close(go_);
    const auto report = test::parse_report(test::read_all(out_));
    ::close(out_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    return report;
  }

private:
  pid_t pid_ = -1;
  int out_ = -1;
  int go_ = -1;
};


void sqlite_probe_run::expect_no_busy_while_probing(sqlite_probe& p, const std::string& path) {
  busy_writer writer(path);
  int runs = 0, saw_locked = 0;
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until) {
    const auto r = run(p);
    ++runs;
    if (sample_value(r, "vitals_sqlite_locked") == 1) ++saw_locked;
    std::this_thread::sleep_for(10ms);
  }
  const auto counts = writer.finish();
  EXPECT_EQ(counts.at("busy"), "0") << "commits=" << counts.at("commits");
  EXPECT_EQ(counts.at("other"), "0");
  EXPECT_GT(std::stol(counts.at("commits")), 100);
  EXPECT_GT(runs, 50);
  // Not asserted, but shown: the probe does see the writer's locks come and go.
  std::cout << "  " << runs << " runs, " << saw_locked << " saw the writer's lock, " << counts.at("commits")
            << " commits, 0 busy\n";
}

TEST_F(sqlite_probe_run, writer_in_a_tight_loop_never_gets_busy_from_the_probe_rollback_mode) {
  const auto path = make_db();
  auto p = make(path);
  expect_no_busy_while_probing(p, path);
}

TEST_F(sqlite_probe_run, writer_in_a_tight_loop_never_gets_busy_from_the_probe_wal_mode) {
  const auto path = make_db();
  run_sql(path, "PRAGMA journal_mode=WAL;");
  auto p = make(path);
  expect_no_busy_while_probing(p, path);
}

TEST_F(sqlite_probe_run, integrity_check_stops_at_the_deadline_and_says_so) {
  const auto path = make_db("big.db", 200000);
  run_sql(path, "CREATE INDEX items_name ON items(name); CREATE INDEX items_price ON items(price, name);");
  auto warm = make(path);
  ASSERT_TRUE(run(warm).ok);  // a process's first read of /proc/locks is slow; later ones take microseconds
  auto p = make(path, integrity_mode::full);
  // The scheduler's deadline: far shorter than a full check of this file
  // (a quarter of a second and more), far longer than the lock-free part.
  EXPECT_FALSE(test::run_with_deadline(io, p, 50ms)) << "the check finished within 50 ms";
  // Let the pool hand the stopped inspection back to the loop.
  io.restart();
  io.run();
  const auto r = run(p);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_NE(evidence_value(r, "integrity check").find("stopped at the probe's deadline"), std::string::npos)
      << describe(r);
  EXPECT_FALSE(sample_value(r, "vitals_sqlite_integrity_ok"));  // no verdict yet
}

}  // namespace
}  // namespace vitals
