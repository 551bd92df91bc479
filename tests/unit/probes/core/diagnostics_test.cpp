#include "probes/core/diagnostics.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/mark.h>

#include <string>
#include <vector>

namespace vitals {
namespace {

std::vector<std::string> messages(const diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& e : d.errors()) out.push_back(e.str());
  return out;
}

// ---- did you mean ----------------------------------------------------------

TEST(did_you_mean, suggests_the_closest_candidate) {
  EXPECT_EQ(did_you_mean("postgress", {"disk", "port", "postgres", "process"}), "postgres");
  EXPECT_EQ(did_you_mean("intervall", {"interval", "timeout"}), "interval");
}

TEST(did_you_mean, ignores_case) { EXPECT_EQ(did_you_mean("Timeout", {"interval", "timeout"}), "timeout"); }

TEST(did_you_mean, is_empty_when_nothing_is_close) {
  EXPECT_EQ(did_you_mean("banana", {"interval", "timeout"}), "");
  EXPECT_EQ(did_you_mean("", {"interval"}), "");
  EXPECT_EQ(did_you_mean("abc", {}), "");
}

TEST(did_you_mean, allows_a_third_of_the_word_in_edits) {
  EXPECT_EQ(did_you_mean("timeuot", {"timeout"}), "timeout");  // 7 letters: 2 edits
  EXPECT_EQ(did_you_mean("tokne", {"token"}), "token");       // a swap of two letters is one edit
}

TEST(did_you_mean, allows_one_edit_for_short_words) {
  EXPECT_EQ(did_you_mean("lg", {"log"}), "log");
  EXPECT_EQ(did_you_mean("lo", {"xy"}), "");
}

// ---- errors ----------------------------------------------------------------

TEST(config_error, prints_file_line_column_path_and_message) {
  config_error e{.file = "/etc/vitals/vitals.yaml", .line = 14, .column = 14, .path = "probes[2].timeout",
                 .message = "bad"};
  EXPECT_EQ(e.str(), "/etc/vitals/vitals.yaml:14:14: probes[2].timeout: bad");
}

TEST(config_error, without_a_position_prints_only_the_file) {
  config_error e{.file = "/nope.yaml", .line = 0, .column = 0, .path = "", .message = "cannot read config file: No such file or directory"};
  EXPECT_EQ(e.str(), "/nope.yaml: cannot read config file: No such file or directory");
}

TEST(diagnostics, turn_zero_based_marks_into_one_based_positions) {
  diagnostics d("f.yaml");
  YAML::Mark m;
  m.line = 0;
  m.column = 0;
  d.add(m, "k", "msg");
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_EQ(d.errors()[0].str(), "f.yaml:1:1: k: msg");
}

TEST(diagnostics, keep_one_error_per_path_and_position) {
  diagnostics d("f.yaml");
  YAML::Mark m;
  m.line = 2;
  m.column = 4;
  d.add(m, "k", "first");
  d.add(m, "k", "second");
  d.add(m, "other", "third");
  EXPECT_EQ(messages(d), (std::vector<std::string>{"f.yaml:3:5: k: first", "f.yaml:3:5: other: third"}));
}

TEST(diagnostics, escape_control_characters_in_a_mistyped_key) {
  diagnostics d("f.yaml");
  d.add(YAML::Mark(), "probes[3].p\rort", "unknown key; did you mean \"port\"?");
  EXPECT_EQ(d.errors()[0].str(), "f.yaml:1:1: probes[3].p\\rort: unknown key; did you mean \"port\"?");
}

TEST(diagnostics, stop_after_two_hundred_errors_and_say_so) {
  diagnostics d("f.yaml");
  for (int i = 0; i < 100000; ++i) {
    YAML::Mark m;
    m.line = i;
    d.add(m, "k", "bad");
  }
  ASSERT_EQ(d.errors().size(), 201u);
  EXPECT_EQ(d.errors().back().message, "too many errors; stopped after 200");
}

TEST(diagnostics, cut_a_message_quoting_a_megabyte_name) {
  diagnostics d("f.yaml");
  d.add(YAML::Mark(), "when", "unknown metric " + std::string(1 << 20, 'a'));
  EXPECT_LE(d.errors()[0].message.size(), 410u);
  EXPECT_TRUE(d.errors()[0].message.starts_with("unknown metric aaa"));
}

TEST(diagnostics, cut_a_path_through_a_paragraph_long_key) {
  diagnostics d("f.yaml");
  d.add(YAML::Mark(), "probes[0]." + std::string(5000, 'k'), "unknown key");
  EXPECT_LE(d.errors()[0].path.size(), 210u);
  EXPECT_EQ(d.errors()[0].message, "unknown key");
}

TEST(quoted, shows_the_start_and_the_size_of_a_long_value) {
  EXPECT_EQ(vitals::quoted(std::string(1000, 'x')), "\"" + std::string(117, 'x') + "…\" (1000 bytes)");
  EXPECT_EQ(vitals::quoted("a\"b\\c\r\xff"), "\"a\\\"b\\\\c\\r\\xff\"");
}

TEST(did_you_mean, gives_up_at_once_on_a_megabyte_word) {
  // Edit distance is length x length: a megabyte word against a hundred
  // names took most of a minute before.
  std::vector<std::string> names(100, "vitals_probe_up");
  EXPECT_EQ(did_you_mean(std::string(1 << 20, 'a'), names), "");
  EXPECT_EQ(did_you_mean("vitals_probe_upp", names), "vitals_probe_up");
}

}  // namespace
}  // namespace vitals
