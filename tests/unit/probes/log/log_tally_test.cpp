#include "probes/log/log_tally.hpp"

#include "probes/log/log_reader.hpp"
#include "probes/log/log_source.hpp"
#include "support/run_probe.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const log_pattern_set> patterns(std::vector<log_pattern_spec> specs) {
  std::vector<log_pattern> compiled;
  for (auto& spec : specs) {
    std::string error;
    auto p = log_pattern::compile(std::move(spec), error);
    EXPECT_TRUE(p) << error;
    if (p) compiled.push_back(std::move(*p));
  }
  return std::make_shared<const log_pattern_set>(std::move(compiled));
}

log_pattern_spec regex(std::string name, std::string re, std::string group_by = "") {
  return {std::move(name), std::move(re), {}, std::move(group_by)};
}

const wall_clock::time_point t0 = wall_clock::time_point(std::chrono::seconds(1'700'000'000));

TEST(log_tally, counts_every_line_and_the_matches_of_each_pattern) {
  log_tally tally(patterns({regex("error", "ERROR"), regex("busy", "SQLITE_BUSY")}));
  for (const char* line : {"ok", "ERROR one", "ERROR SQLITE_BUSY: database is locked", "fine"})
    tally.line(line, false, {"app.log", t0});
  const auto s = tally.summary();
  EXPECT_EQ(s.lines, 4u);
  ASSERT_EQ(s.patterns.size(), 2u);
  EXPECT_EQ(s.patterns[0].matches, 2u);
  EXPECT_EQ(s.patterns[1].matches, 1u);
}

TEST(log_tally, keeps_the_last_five_matches_newest_first) {
  log_tally tally(patterns({regex("error", "ERROR")}));
  for (int i = 1; i <= 7; ++i) tally.line("ERROR " + std::to_string(i), false, {"app.log", t0 + i * 1s});
  const auto p = tally.summary().patterns[0];
  ASSERT_EQ(p.recent.size(), 5u);
  EXPECT_EQ(p.recent[0].text, "ERROR 7");
  EXPECT_EQ(p.recent[4].text, "ERROR 3");
  EXPECT_EQ(p.recent[0].at, t0 + 7s);
  EXPECT_EQ(p.last_match, t0 + 7s);
}

TEST(log_tally, kept_lines_are_cut_to_their_bound) {
  log_tally tally(patterns({regex("error", "ERROR")}));
  tally.line("ERROR " + std::string(2000, 'x'), false, {"app.log", t0});
  const auto kept = tally.summary().patterns[0].recent.at(0);
  EXPECT_EQ(kept.text.size(), log_tally::max_line_bytes);
  EXPECT_TRUE(kept.cut);
}

TEST(log_tally, group_by_tallies_the_window_and_starts_over_with_the_next) {
  log_tally tally(patterns({regex("refused", R"(connect (?P<code>E[A-Z]+))", "code")}));
  for (const char* line : {"connect ECONNREFUSED", "connect ECONNREFUSED", "connect EMFILE", "connect ECONNREFUSED"})
    tally.line(line, false, {"app.log", t0});
  auto p = tally.summary().patterns[0];
  ASSERT_EQ(p.top_groups.size(), 2u);
  EXPECT_EQ(p.top_groups[0], (std::pair<std::string, std::uint64_t>{"ECONNREFUSED", 3}));
  EXPECT_EQ(p.top_groups[1], (std::pair<std::string, std::uint64_t>{"EMFILE", 1}));
  tally.start_window();
  tally.line("connect EMFILE", false, {"app.log", t0});
  p = tally.summary().patterns[0];
  ASSERT_EQ(p.top_groups.size(), 1u);
  EXPECT_EQ(p.window_matches, 1u);
  EXPECT_EQ(p.matches, 5u);
}

TEST(log_tally, group_values_beyond_the_bound_count_as_others) {
  log_tally tally(patterns({regex("id", R"(id=(\d+))", "1")}));
  for (std::size_t i = 0; i < log_tally::max_group_values + 10; ++i)
    tally.line("id=" + std::to_string(i), false, {"app.log", t0});
  const auto p = tally.summary().patterns[0];
  EXPECT_EQ(p.top_groups.size(), log_tally::top_groups);
  EXPECT_EQ(p.other_groups, 10u);
}

TEST(log_tally, json_group_by_tallies_a_field) {
  log_pattern_spec spec{"slow", "", {{*parse_field_path("ms"), json_condition::op::gte, {}, 1000}}, "route"};
  log_tally tally(patterns({spec}));
  tally.line(R"({"ms":1500,"route":"/api/a"})", false, {"app.log", t0});
  tally.line(R"({"ms":20,"route":"/api/b"})", false, {"app.log", t0});
  tally.line(R"({"ms":3000,"route":"/api/a"})", false, {"app.log", t0});
  const auto p = tally.summary().patterns[0];
  EXPECT_EQ(p.matches, 2u);
  ASSERT_EQ(p.top_groups.size(), 1u);
  EXPECT_EQ(p.top_groups[0], (std::pair<std::string, std::uint64_t>{"/api/a", 2}));
}

TEST(log_result, counts_become_series_and_matches_evidence) {
  log_tally tally(patterns({regex("error", "ERROR")}));
  tally.read(40);
  tally.line("ERROR \x1b[31mred\x1b[0m password=hunter2", false, {"/var/log/app.log", t0});
  tally.line("fine", false, {"/var/log/app.log", t0});
  const auto r = log_result({tally.summary(), 1, "/var/log/app.log", std::nullopt, {}}, 16 << 20);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(test::sample_value(r, "vitals_log_lines_total"), 2);
  EXPECT_EQ(test::sample_value(r, "vitals_log_read_bytes_total"), 40);
  EXPECT_EQ(test::sample_value(r, "vitals_log_matches_total"), 1);
  EXPECT_EQ(test::sample_value(r, "vitals_log_last_match_timestamp_seconds"), 1'700'000'000);
  const auto line = test::evidence_value(r, "error #1");
  EXPECT_EQ(line, "2023-11-14T22:13:20.000Z /var/log/app.log: ERROR \\x1b[31mred\\x1b[0m password=<redacted>");
  EXPECT_EQ(test::evidence_value(r, "error"), "1 match in this run, 1 in all; last at 2023-11-14T22:13:20.000Z");
}

TEST(log_result, a_source_problem_fails_the_run_but_keeps_the_counts) {
  log_tally tally(patterns({regex("error", "ERROR")}));
  tally.line("ERROR", false, {"app.log", t0});
  const auto r = log_result({tally.summary(), 0, "nothing yet", source_problem{"missing", "/x does not exist"}, {}}, 1);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "missing");
  EXPECT_EQ(test::sample_value(r, "vitals_log_matches_total"), 1);
}

TEST(log_result, no_match_yet_means_no_last_match_series) {
  log_tally tally(patterns({regex("error", "ERROR")}));
  const auto r = log_result({tally.summary(), 1, "x", std::nullopt, {}}, 1);
  EXPECT_EQ(test::sample_value(r, "vitals_log_matches_total"), 0);
  EXPECT_FALSE(test::sample_value(r, "vitals_log_last_match_timestamp_seconds"));
}

TEST(read_pass, repeated_note_keys_are_numbered_so_evidence_keeps_them_all) {
  log_tally tally(patterns({regex("error", "ERROR")}));
  std::atomic<bool> stop{false};
  read_pass pass{tally, 1, stop, {}, t0, false, false, std::nullopt, {}};
  pass.note("rotated", "a");
  pass.note("rotated", "b");
  pass.note("skipped", "c");
  pass.note("rotated", "d");
  ASSERT_EQ(pass.notes.size(), 4u);
  EXPECT_EQ(pass.notes[1].first, "rotated 2");
  EXPECT_EQ(pass.notes[2].first, "skipped");
  EXPECT_EQ(pass.notes[3].first, "rotated 3");
}

}  // namespace
}  // namespace vitals
