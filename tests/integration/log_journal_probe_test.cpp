// The log probe reading a real journal through sd_journal: journal files
// written by systemd-journal-remote from the journal export format, so no
// running journald is needed and every entry is one the test made.

#include "fixtures/log_probe_harness.hpp"
#include "probes/core/valid_text.hpp"
#include "support/shell_command.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace vitals {
namespace {

using test::describe;
using test::evidence_value;
using test::lines;
using test::matches;
using test::series;

constexpr const char* journal_remote = "/lib/systemd/systemd-journal-remote";
constexpr std::uint64_t first_usec = 1'700'000'000'000'000;  // 2023-11-14T22:13:20Z

struct entry {
  std::string unit;     // _SYSTEMD_UNIT; empty: none
  std::string message;  // any bytes
  std::vector<std::pair<std::string, std::string>> more{};
};

class log_journal_probe : public test::log_probe_harness {
 protected:
  test::temp_dir dir;
  std::uint64_t written_ = 0;

  // Appends entries to dir/name through systemd-journal-remote, the export
  // format on its stdin. Each entry is a second after the one before.
  void append(const std::vector<entry>& entries, const std::string& name = "remote.journal") {
    std::string text;
    for (const auto& e : entries) {
      ++written_;
      text += "__REALTIME_TIMESTAMP=" + std::to_string(first_usec + written_ * 1'000'000) + "\n";
      text += "__MONOTONIC_TIMESTAMP=" + std::to_string(written_ * 1'000'000) + "\n";
      text += "_BOOT_ID=0123456789abcdef0123456789abcdef\n";
      if (!e.unit.empty()) text += "_SYSTEMD_UNIT=" + e.unit + "\n";
      for (const auto& [k, v] : e.more) text += k + "=" + v + "\n";
      // The binary form: a field that may hold any byte, newlines included.
      std::string size(8, '\0');
      for (int i = 0; i < 8; ++i) size[i] = static_cast<char>((e.message.size() >> (8 * i)) & 0xff);
      text += "MESSAGE\n" + size + e.message + "\n\n";
    }
    const std::string input = dir.path() + "/input.export";
    FILE* f = std::fopen(input.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    const auto out = test::run_shell(std::string(journal_remote) + " -o " + dir.path() + "/" + name + " - < " + input);
    ASSERT_EQ(out.substr(0, 3), "ok\n") << out;
  }

  std::unique_ptr<log_probe> journal_probe(const std::string& unit, const test::log_probe_harness::tweak& change = {}) {
    return file_probe("/unused", [&](log_probe_settings& s) {
      s.source = log_probe_settings::source_kind::journal;
      s.unit = unit;
      s.journal_directory = dir.path();
      if (change) change(s);
    });
  }

  static std::vector<entry> many(int n, const std::string& unit, const std::string& message) {
    return std::vector<entry>(static_cast<std::size_t>(n), entry{unit, message});
  }
};

TEST_F(log_journal_probe, entries_of_the_unit_are_counted_exactly_once) {
  append(many(3, "api.service", "ERROR before the probe started"));
  auto p = journal_probe("api");
  auto r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 0) << "a new source starts at its end";
  EXPECT_EQ(series(r, "vitals_log_files_followed"), 1);

  append(many(5, "api.service", "ERROR SQLITE_BUSY: database is locked"));
  append(many(3, "worker.service", "ERROR not ours"));
  append(many(2, "api.service", "GET /health 200"));
  r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 7);
  EXPECT_EQ(matches(r, "busy"), 5);
  EXPECT_EQ(matches(r, "error"), 5);
  // Entry 8 was the last api error: its own time, not the time it was read.
  EXPECT_EQ(evidence_value(r, "busy #1"),
            "2023-11-14T22:13:28.000Z api.service: ERROR SQLITE_BUSY: database is locked");
  EXPECT_EQ(series(r, "vitals_log_last_match_timestamp_seconds", "busy"), 1'700'000'008);

  r = run(*p);
  EXPECT_EQ(lines(r), 7) << "the cursor is kept: nothing counted twice";
  append(many(4, "api.service", "ERROR again"));
  r = run(*p);
  EXPECT_EQ(lines(r), 11) << "and nothing skipped";
}

TEST_F(log_journal_probe, from_beginning_reads_the_units_entries_already_there) {
  append(many(3, "api.service", "ERROR old"));
  append(many(2, "worker.service", "ERROR not ours"));
  auto p = journal_probe("api.service", [](log_probe_settings& s) { s.from_beginning = true; });
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 3) << describe(r);
}

TEST_F(log_journal_probe, what_systemd_says_about_the_unit_counts_like_journalctl_u) {
  append(many(1, "api.service", "ready"));
  auto p = journal_probe("api");
  run(*p);
  append({{"init.scope",
           "api.service: Main process exited, code=killed, status=9/KILL ERROR",
           {{"_PID", "1"}, {"UNIT", "api.service"}}}});
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 1) << describe(r);
  EXPECT_EQ(matches(r, "error"), 1);
}

TEST_F(log_journal_probe, identifier_selects_syslog_identifier) {
  auto p = journal_probe("", [](log_probe_settings& s) { s.identifier = "cron-backup"; });
  append(many(1, "", "start"));
  run(*p);
  append({{"", "ERROR backup failed", {{"SYSLOG_IDENTIFIER", "cron-backup"}}},
          {"", "ERROR someone else", {{"SYSLOG_IDENTIFIER", "sshd"}}}});
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 1) << describe(r);
}

TEST_F(log_journal_probe, invalid_utf8_and_multiline_messages_are_one_line_each_shown_escaped) {
  append(many(1, "api.service", "start"));
  auto p = journal_probe("api");
  run(*p);
  append({{"api.service", "ERROR \xff\xfe bytes"}, {"api.service", "ERROR first\nsecond"}});
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 2);
  EXPECT_EQ(matches(r, "error"), 2);
  EXPECT_NE(evidence_value(r, "error #2").find("ERROR \\xff\\xfe bytes"), std::string::npos) << describe(r);
  EXPECT_NE(evidence_value(r, "error #1").find("ERROR first\\nsecond"), std::string::npos) << describe(r);
  EXPECT_TRUE(is_valid_utf8(evidence_value(r, "error #2")));
}

TEST_F(log_journal_probe, entries_in_a_new_journal_file_are_read) {
  append(many(1, "api.service", "start"));
  auto p = journal_probe("api");
  run(*p);
  append(many(2, "api.service", "ERROR in the old file"));
  append(many(3, "api.service", "ERROR in a new file"), "remote@2.journal");
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 5) << describe(r);
}

TEST_F(log_journal_probe, more_than_the_budget_reads_the_newest_and_counts_the_rest_skipped) {
  append(many(1, "api.service", "start"));
  auto p = journal_probe("api", [](log_probe_settings& s) { s.max_read_per_run = 64 * 1024; });
  run(*p);
  const std::string filler(1000, 'x');
  append(many(200, "api.service", "INFO " + filler));  // 1005 bytes each
  append(many(1, "api.service", "ERROR the newest"));
  const auto r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  const double read = series(r, "vitals_log_read_bytes_total");
  EXPECT_LE(read, 64 * 1024);
  EXPECT_EQ(read + series(r, "vitals_log_skipped_bytes_total"), 200 * 1005 + 16);
  EXPECT_EQ(matches(r, "error"), 1);
  EXPECT_EQ(lines(r), 1 + (read - 16) / 1005);
}

TEST_F(log_journal_probe, missing_directory_fails_with_missing) {
  auto p = journal_probe("api", [this](log_probe_settings& s) { s.journal_directory = dir.path() + "/nope"; });
  const auto r = run(*p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "missing");
  EXPECT_EQ(r.error, "journal directory " + dir.path() + "/nope does not exist");
}

TEST_F(log_journal_probe, directory_without_journal_files_fails_with_missing) {
  auto p = journal_probe("api");
  const auto r = run(*p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "missing");
  EXPECT_EQ(r.error, "no journal files in " + dir.path());
}

}  // namespace
}  // namespace vitals
