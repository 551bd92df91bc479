// Rotation while a real writer process writes, done the way logrotate does
// it: rename-and-create (the writer keeps writing to the renamed file until
// told to reopen) and copytruncate (copy, then truncate in place). Every
// line must be counted exactly once.

#include "fixtures/log_probe_harness.hpp"
#include "fixtures/log_writer.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace vitals {
namespace {

using test::describe;
using test::evidence_value;
using test::lines;
using test::matches;
using test::series;

class log_rotation : public test::log_probe_harness {
 protected:
  test::temp_dir dir;
  std::string path = dir.path() + "/app.log";

  // Runs the probe until it has counted at least `expected` lines; the
  // limit is a safety net, not what is tested.
  probe_result run_until_at_least(log_probe& p, double expected) {
    probe_result r = run(p);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (lines(r) < expected && std::chrono::steady_clock::now() < give_up) r = run(p);
    return r;
  }

  // The same, then once more: the count must stay.
  probe_result run_until_counted(log_probe& p, double expected) {
    run_until_at_least(p, expected);
    return run(p);
  }

  // logrotate's copytruncate: copy, then truncate the original in place.
  void copytruncate(const std::string& copy) {
    std::filesystem::copy_file(path, copy);
    ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  }
};

TEST_F(log_rotation, rename_and_create_while_writing_loses_and_doubles_nothing) {
  test::log_writer writer(path);
  auto p = file_probe(path);
  run(*p);
  writer.start("INFO request served", "ERROR SQLITE_BUSY: database is locked", 10);
  run_until_at_least(*p, 500);
  std::filesystem::rename(path, path + ".1");  // the writer goes on writing to app.log.1
  run(*p);                                     // app.log is gone: the probe says so and reads app.log.1 to its end
  writer.reopen();                             // postrotate: a new app.log
  run_until_at_least(*p, 3000);
  const auto written = writer.pause();
  const auto r = run_until_counted(*p, static_cast<double>(written.lines));
  EXPECT_EQ(lines(r), written.lines) << describe(r);
  EXPECT_EQ(matches(r, "busy"), written.errors);
  EXPECT_TRUE(r.ok) << describe(r);
}

TEST_F(log_rotation, renamed_file_written_after_the_rename_and_then_deleted_is_read_through_the_kept_descriptor) {
  test::log_writer writer(path);
  auto p = file_probe(path);
  run(*p);
  writer.write(10, "before");
  run(*p);
  std::filesystem::rename(path, path + ".1");
  writer.write(25, "ERROR written to the renamed file");
  std::filesystem::remove(path + ".1");  // compressed away before the next run
  writer.reopen();
  writer.write(5, "to the new file");
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 40) << describe(r);
  EXPECT_EQ(matches(r, "error"), 25);
}

TEST_F(log_rotation, rename_without_a_new_file_fails_with_rotated_away) {
  test::log_writer writer(path);
  auto p = file_probe(path);
  run(*p);
  writer.write(3, "ERROR last words");
  std::filesystem::rename(path, path + ".1");
  auto r = run(*p);
  EXPECT_EQ(lines(r), 3) << "the renamed file is read to its end";
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "rotated_away");
  EXPECT_EQ(r.error, path + " was rotated away (now " + path + ".1) and nothing has been created in its place");
  r = run(*p);
  EXPECT_EQ(r.reason, "rotated_away");
  writer.reopen();
  writer.write(2, "again");
  r = run(*p);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 5);
}

TEST_F(log_rotation, copytruncate_reads_the_lines_before_the_truncation_from_the_copy) {
  test::log_writer writer(path);
  auto p = file_probe(path);
  run(*p);
  writer.write(10, "read before");
  run(*p);
  writer.write(50, "ERROR only in the copy by the next run");
  copytruncate(path + ".1");
  writer.write(20, "after the truncation");
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 80) << describe(r);
  EXPECT_EQ(matches(r, "error"), 50);
  EXPECT_NE(evidence_value(r, "rotated").find("was truncated (copytruncate); the rest was read from its copy"),
            std::string::npos)
      << describe(r);
}

TEST_F(log_rotation, copytruncate_then_more_than_before_is_still_seen_as_a_new_file) {
  test::log_writer writer(path);
  auto p = file_probe(path);
  run(*p);
  writer.write(10, "read before");
  run(*p);
  copytruncate(path + ".1");
  writer.write(400, "ERROR the file is now longer than where reading was");
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 410) << describe(r);
  EXPECT_EQ(matches(r, "error"), 400);
}

TEST_F(log_rotation, copytruncate_between_bursts_of_a_running_writer_loses_and_doubles_nothing) {
  // The window between copy and truncate loses lines for any reader (as
  // logrotate says); the writer is held still for just that moment.
  test::log_writer writer(path);
  auto p = file_probe(path, [this](log_probe_settings& s) { s.path = dir.path() + "/app.log*"; });
  run(*p);
  std::uint64_t total = 0;
  for (int round = 1; round <= 3; ++round) {
    writer.start("INFO request served", "ERROR connect ETIMEDOUT", 7);
    run_until_at_least(*p, static_cast<double>(total) + 300);
    total += writer.pause().lines;
    copytruncate(path + "." + std::to_string(round));  // matches the glob too: must not be read twice
  }
  const auto r = run_until_counted(*p, static_cast<double>(total));
  EXPECT_EQ(lines(r), total) << describe(r);
}

TEST_F(log_rotation, a_file_renamed_out_of_the_glob_and_back_is_read_on_not_again) {
  { std::ofstream(path) << "start\n"; }
  auto p = file_probe(dir.path() + "/*.log");
  run(*p);
  { std::ofstream(path, std::ios::app) << "ERROR one\nERROR two\n"; }
  EXPECT_EQ(lines(run(*p)), 2);
  std::filesystem::rename(path, path + ".hold");  // matched no more: read on as a rotated file
  EXPECT_EQ(lines(run(*p)), 2);
  std::filesystem::rename(path + ".hold", path);  // and back under its name
  { std::ofstream(path, std::ios::app) << "ERROR three\n"; }
  const auto r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 3);
  EXPECT_EQ(matches(r, "error"), 3);
  EXPECT_EQ(series(r, "vitals_log_files_followed"), 1);
}

}  // namespace
}  // namespace vitals
