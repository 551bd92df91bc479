// The log probe on real files written by a real writer process: counts,
// partial lines, hostile bytes, huge lines, a path that becomes a
// directory, permissions, a glob over 10,000 files, a writer faster than
// the read budget and a 10 GB file.

#include "fixtures/log_probe_harness.hpp"
#include "fixtures/log_writer.hpp"
#include "probes/core/valid_text.hpp"
#include "probes/log/file_source.hpp"
#include "support/as_nobody.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <string>
#include <vector>

namespace vitals {
namespace {

using test::describe;
using test::evidence_value;
using test::lines;
using test::matches;
using test::series;

class log_file_probe : public test::log_probe_harness {
 protected:
  test::temp_dir dir;
  std::string path = dir.path() + "/app.log";
};

TEST_F(log_file_probe, appended_lines_are_counted_exactly_once) {
  test::log_writer writer(path);
  writer.write(3, "INFO before the probe started");
  auto p = file_probe(path);
  auto r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 0) << "a new source starts at its end";

  writer.write(100, "GET /health 200");
  writer.write(7, "ERROR SQLITE_BUSY: database is locked");
  writer.write(2, "ERROR connect ECONNREFUSED 127.0.0.1:5432");
  r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 109);
  EXPECT_EQ(matches(r, "error"), 9);
  EXPECT_EQ(matches(r, "busy"), 7);
  EXPECT_EQ(matches(r, "refused"), 2);
  EXPECT_EQ(series(r, "vitals_log_files_followed"), 1);
  EXPECT_EQ(evidence_value(r, "refused by code"), "ECONNREFUSED ×2 (this run)");
  EXPECT_NE(evidence_value(r, "error #1").find(path + ": 112 ERROR connect ECONNREFUSED"), std::string::npos)
      << describe(r);

  r = run(*p);
  EXPECT_EQ(lines(r), 109) << "nothing new, nothing counted";
  EXPECT_TRUE(evidence_value(r, "error").starts_with("0 matches in this run, 9 in all; last at ")) << describe(r);
}

TEST_F(log_file_probe, from_beginning_reads_what_is_already_there) {
  test::log_writer writer(path);
  writer.write(4, "ERROR old");
  auto p = file_probe(path, [](log_probe_settings& s) { s.from_beginning = true; });
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 4);
  EXPECT_EQ(matches(r, "error"), 4);
}

TEST_F(log_file_probe, partial_last_line_waits_for_its_newline) {
  test::log_writer writer(path);
  auto p = file_probe(path);
  run(*p);
  writer.write_raw("half a li");
  auto r = run(*p);
  EXPECT_EQ(lines(r), 0);
  writer.write_raw("ne with ERROR\n");
  r = run(*p);
  EXPECT_EQ(lines(r), 1);
  EXPECT_EQ(matches(r, "error"), 1);
  EXPECT_NE(evidence_value(r, "error #1").find(": half a line with ERROR"), std::string::npos) << describe(r);
}

TEST_F(log_file_probe, invalid_utf8_line_is_counted_matched_and_shown_escaped) {
  test::log_writer writer(path);
  auto p = file_probe(path);
  run(*p);
  writer.write_raw("\xff\xfe ERROR \xc0\x80 bad bytes\n");
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 1);
  EXPECT_EQ(matches(r, "error"), 1);
  const auto shown = evidence_value(r, "error #1");
  EXPECT_NE(shown.find(": \\xff\\xfe ERROR \\xc0\\x80 bad bytes"), std::string::npos) << shown;
  EXPECT_TRUE(is_valid_utf8(shown));
}

TEST_F(log_file_probe, one_mebibyte_line_is_one_line_cut_and_counted_as_long) {
  test::log_writer writer(path);
  auto p = file_probe(path);
  run(*p);
  writer.write_raw("ERROR " + std::string(1 << 20, 'x') + "\n");
  writer.write(1, "after");
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 2);
  EXPECT_EQ(series(r, "vitals_log_long_lines_total"), 1);
  EXPECT_EQ(matches(r, "error"), 1);
  EXPECT_EQ(series(r, "vitals_log_read_bytes_total"), (1 << 20) + 7 + 8);
  EXPECT_LT(evidence_value(r, "error #1").size(), 400u) << "evidence is cut";
}

TEST_F(log_file_probe, missing_file_fails_with_missing_then_is_read_from_its_beginning) {
  auto p = file_probe(path);
  auto r = run(*p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "missing");
  EXPECT_EQ(r.error, path + " does not exist");
  EXPECT_EQ(lines(r), 0) << "the counts are there even when the run fails";

  test::log_writer writer(path);
  writer.write(5, "ERROR first words");
  r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 5) << "a file created after the first run is new: read from its start";
}

TEST_F(log_file_probe, file_replaced_by_a_directory_fails_with_not_a_file) {
  {
    test::log_writer writer(path);
    writer.write(1, "x");
  }
  auto p = file_probe(path);
  ASSERT_TRUE(run(*p).ok);
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);
  const auto r = run(*p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "not_a_file");
  EXPECT_EQ(r.error, path + " is a directory, not a log file");
}

TEST_F(log_file_probe, unreadable_file_fails_with_permission) {
  { std::ofstream(path) << "x\n"; }
  ::chmod(path.c_str(), 0600);
  ::chmod(dir.path().c_str(), 0755);
  settle_pool();
  const auto report = test::parse_report(test::run_as_nobody([&]() -> std::string {
    asio::io_context child_io;
    asio::thread_pool child_pool{1};
    probe_context child_ctx{child_io, child_pool};
    log_probe_settings s;
    s.path = path;
    s.from_beginning = true;
    s.patterns = test::runbook_patterns();
    log_probe p(s, child_ctx);
    const auto r = test::run_once(child_io, p);
    child_pool.join();
    return "ok=" + std::string(r.ok ? "1" : "0") + "\nreason=" + r.reason + "\nerror=" + r.error + "\n";
  }));
  ASSERT_EQ(report.at("ok"), "0") << report.at("error");
  EXPECT_EQ(report.at("reason"), "permission");
  EXPECT_EQ(report.at("error"), "cannot read " + path + ": permission denied (vitalsd runs as uid 65534)");
}

TEST_F(log_file_probe, glob_of_ten_thousand_files_follows_them_all_with_few_descriptors) {
  constexpr int files = 10'000;
  for (int i = 0; i < files; ++i) std::ofstream(dir.path() + "/svc-" + std::to_string(i) + ".log") << "start\n";
  auto p = file_probe(dir.path() + "/svc-*.log");
  auto open_fds = [] { return std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {}); };
  auto r = run(*p);
  const auto fds_before = open_fds();  // after the loop's own epoll and timer descriptors
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(series(r, "vitals_log_files_followed"), files);
  EXPECT_EQ(lines(r), 0);

  for (int i = 0; i < files; i += 100)
    std::ofstream(dir.path() + "/svc-" + std::to_string(i) + ".log", std::ios::app) << "ERROR x\n";
  std::ofstream(dir.path() + "/svc-new.log") << "ERROR a new file is read from its start\n";
  std::filesystem::remove(dir.path() + "/svc-1.log");
  r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), files / 100 + 1);
  EXPECT_EQ(matches(r, "error"), files / 100 + 1);
  EXPECT_EQ(series(r, "vitals_log_files_followed"), files);  // one new, one gone
  EXPECT_LE(open_fds() - fds_before, static_cast<long>(file_source::max_kept_open));
}

TEST_F(log_file_probe, writer_faster_than_the_budget_is_skipped_to_its_newest_bytes) {
  test::log_writer writer(path);
  auto p = file_probe(path, [](log_probe_settings& s) { s.max_read_per_run = 64 * 1024; });
  run(*p);
  const auto before = std::filesystem::file_size(path);
  writer.write(20'000, "INFO a line of about fifty bytes, again and again");
  writer.write(1, "ERROR the newest line");
  const auto written = std::filesystem::file_size(path) - before;
  const auto r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  const double read = series(r, "vitals_log_read_bytes_total");
  const double skipped = series(r, "vitals_log_skipped_bytes_total");
  EXPECT_LE(read, 64 * 1024);
  EXPECT_EQ(read + skipped, static_cast<double>(written)) << "every byte read or counted as skipped";
  EXPECT_EQ(matches(r, "error"), 1) << "the newest lines are the ones read";
  EXPECT_NE(evidence_value(r, "skipped"), "<absent>") << describe(r);
}

TEST_F(log_file_probe, ten_gigabyte_file_appearing_costs_one_budget_and_is_skipped) {
  auto p = file_probe(dir.path() + "/*.log");
  run(*p);  // nothing matches yet
  const std::string huge = dir.path() + "/huge.log";
  {
    const int fd = ::open(huge.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 10'000'000'000LL), 0);  // sparse: costs no disk
    ::close(fd);
  }
  const auto r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(series(r, "vitals_log_read_bytes_total"), 16 << 20);
  EXPECT_EQ(series(r, "vitals_log_skipped_bytes_total"), 10'000'000'000.0 - (16 << 20));
}

TEST_F(log_file_probe, a_file_matched_under_two_names_is_read_once) {
  { std::ofstream(path) << "start\n"; }
  std::filesystem::create_symlink(path, dir.path() + "/current.log");  // both match *.log
  auto p = file_probe(dir.path() + "/*.log", [](log_probe_settings& s) { s.max_read_per_run = 4096; });
  run(*p);
  {
    std::ofstream out(path, std::ios::app);
    for (int i = 0; i < 100; ++i) out << "ERROR " << std::string(93, 'x') << "\n";  // 100 bytes a line
  }
  const auto r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(series(r, "vitals_log_files_followed"), 1);
  // Behind by more than the budget: what was read and what was skipped
  // make up what was written, once.
  EXPECT_EQ(series(r, "vitals_log_read_bytes_total") + series(r, "vitals_log_skipped_bytes_total"), 10'000)
      << describe(r);
  EXPECT_LE(series(r, "vitals_log_read_bytes_total"), 4096);
}

TEST_F(log_file_probe, a_glob_that_cannot_be_listed_fails_with_error_and_forgets_nothing) {
  { std::ofstream(path) << "start\n"; }
  auto p = file_probe(dir.path() + "/*.log");
  run(*p);
  { std::ofstream(path, std::ios::app) << "ERROR one\nERROR two\nERROR three\n"; }
  EXPECT_EQ(lines(run(*p)), 3);

  // Out of descriptors for one run: the directory cannot be opened, which
  // proves nothing about the files in it.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  const auto open_now = static_cast<rlim_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {}));
  rlimit tight = saved;
  tight.rlim_cur = open_now + 16;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::vector<int> filler;  // every descriptor left, taken
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.push_back(fd);
  const int why = errno;
  auto r = run(*p);
  for (const int fd : filler) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(why, EMFILE);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "error") << describe(r);
  EXPECT_NE(r.error.find("cannot list the directories of"), std::string::npos) << r.error;

  { std::ofstream(path, std::ios::app) << "ERROR four\n"; }
  r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 4) << "read on from where it was, not again from the start";
}

}  // namespace
}  // namespace vitals
