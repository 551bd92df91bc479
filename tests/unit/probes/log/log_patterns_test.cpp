#include "probes/log/log_patterns.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

log_pattern compiled(log_pattern_spec spec) {
  std::string error;
  auto p = log_pattern::compile(std::move(spec), error);
  EXPECT_TRUE(p) << error;
  return std::move(*p);
}

bool matches(const log_pattern& p, std::string_view line, std::string& group) {
  json_line json;
  return p.matches(line, json.parse(line), group);
}

TEST(log_pattern, regex_matches_anywhere_in_the_line) {
  const auto p = compiled({"busy", "SQLITE_BUSY: database is locked", {}, ""});
  std::string group;
  EXPECT_TRUE(matches(p, "2024-05-01 ERROR SQLITE_BUSY: database is locked (5)", group));
  EXPECT_FALSE(matches(p, "2024-05-01 INFO all good", group));
}

TEST(log_pattern, regex_matches_around_invalid_utf8) {
  const auto p = compiled({"oom", "JavaScript heap out of memory", {}, ""});
  std::string group;
  EXPECT_TRUE(matches(p, "\xff\xfe FATAL JavaScript heap out of memory \xc0", group));
}

TEST(log_pattern, group_by_a_named_or_numbered_group_captures_its_value) {
  std::string group;
  EXPECT_TRUE(matches(compiled({"e", R"(code=(?P<code>\w+))", {}, "code"}), "failed code=ECONNREFUSED", group));
  EXPECT_EQ(group, "ECONNREFUSED");
  EXPECT_TRUE(matches(compiled({"e", R"((\w+) failed)", {}, "1"}), "connect failed", group));
  EXPECT_EQ(group, "connect");
}

TEST(log_pattern, group_that_took_no_part_gives_an_empty_value) {
  std::string group = "stale";
  EXPECT_TRUE(matches(compiled({"e", R"(ERROR( code=(\w+))?)", {}, "2"}), "ERROR", group));
  EXPECT_EQ(group, "");
}

TEST(log_pattern, group_value_is_bounded) {
  std::string group;
  EXPECT_TRUE(matches(compiled({"e", R"(id=(\w+))", {}, "1"}), "id=" + std::string(1000, 'a'), group));
  EXPECT_EQ(group.size(), log_pattern::max_group_bytes);
}

TEST(log_pattern, group_number_beyond_the_regex_is_refused) {
  std::string error;
  EXPECT_FALSE(log_pattern::compile({"e", R"((\w+))", {}, "2"}, error));
  EXPECT_EQ(error, "the regex has 1 capture group, not 2");
}

TEST(log_pattern, json_pattern_needs_a_json_line_and_every_condition) {
  const auto p = compiled({"error",
                           "",
                           {{*parse_field_path("level"), json_condition::op::gte, {}, 50},
                            {*parse_field_path("svc"), json_condition::op::eq, {"api"}}},
                           "err.code"});
  std::string group;
  EXPECT_TRUE(matches(p, R"({"level":50,"svc":"api","err":{"code":"EMFILE"}})", group));
  EXPECT_EQ(group, "EMFILE");
  EXPECT_FALSE(matches(p, R"({"level":50,"svc":"worker"})", group));
  EXPECT_FALSE(matches(p, "level=50 svc=api", group));
}

TEST(log_pattern_set, parses_a_line_as_json_only_when_a_pattern_needs_it) {
  std::vector<log_pattern> only_regex;
  only_regex.push_back(compiled({"e", "level", {}, ""}));
  const log_pattern_set set(std::move(only_regex));
  EXPECT_FALSE(set.any_json());
  json_line json;
  std::string group;
  int seen = 0;
  set.match(R"({"level":"error"})", json, group, [&](std::size_t, std::string_view) { ++seen; });
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace vitals
