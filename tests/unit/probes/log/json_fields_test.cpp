#include "probes/log/json_fields.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

json_condition condition(const std::string& field, json_condition::op how, std::vector<std::string> values = {},
                         double number = 0) {
  return json_condition{*parse_field_path(field), how, std::move(values), number};
}

bool holds(const json_condition& c, std::string_view line) {
  json_line parser;
  const auto* object = parser.parse(line);
  return object != nullptr && c.holds(*object);
}

TEST(json_fields, dotted_path_finds_nested_fields) {
  json_line parser;
  const auto* o = parser.parse(R"({"err":{"code":"ECONNREFUSED","errno":-111}})");
  ASSERT_NE(o, nullptr);
  const auto* v = find_field(*o, *parse_field_path("err.code"));
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(field_text(*v, 100), "ECONNREFUSED");
  EXPECT_EQ(field_text(*find_field(*o, *parse_field_path("err.errno")), 100), "-111");
}

TEST(json_fields, key_holding_a_dot_is_found_as_written) {
  json_line parser;
  const auto* o = parser.parse(R"({"log.level":"error","log":{"origin":"x"}})");
  ASSERT_NE(o, nullptr);
  const auto* v = find_field(*o, *parse_field_path("log.level"));
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(field_text(*v, 100), "error");
}

TEST(json_fields, empty_steps_are_not_a_path) {
  EXPECT_FALSE(parse_field_path(""));
  EXPECT_FALSE(parse_field_path("a..b"));
  EXPECT_FALSE(parse_field_path(".a"));
  EXPECT_FALSE(parse_field_path("a."));
}

TEST(json_fields, equality_compares_strings_by_text_and_numbers_by_value) {
  EXPECT_TRUE(holds(condition("level", json_condition::op::eq, {"error"}), R"({"level":"error"})"));
  EXPECT_FALSE(holds(condition("level", json_condition::op::eq, {"error"}), R"({"level":"ERROR"})"));
  EXPECT_TRUE(holds(condition("level", json_condition::op::eq, {"50"}), R"({"level":50})"));
  EXPECT_TRUE(holds(condition("level", json_condition::op::eq, {"50"}), R"({"level":50.0})"));
  EXPECT_TRUE(holds(condition("ok", json_condition::op::eq, {"false"}), R"({"ok":false})"));
  EXPECT_TRUE(holds(condition("user", json_condition::op::eq, {"null"}), R"({"user":null})"));
}

TEST(json_fields, any_of_several_values_matches) {
  const auto c = condition("level", json_condition::op::eq, {"error", "fatal"});
  EXPECT_TRUE(holds(c, R"({"level":"fatal"})"));
  EXPECT_FALSE(holds(c, R"({"level":"warn"})"));
}

TEST(json_fields, numeric_comparisons_read_numbers_and_numeric_strings) {
  const auto c = condition("level", json_condition::op::gte, {}, 50);
  EXPECT_TRUE(holds(c, R"({"level":50})"));
  EXPECT_TRUE(holds(c, R"({"level":60})"));
  EXPECT_FALSE(holds(c, R"({"level":40})"));
  EXPECT_TRUE(holds(c, R"({"level":"55"})"));
  EXPECT_FALSE(holds(c, R"({"level":"error"})"));
  EXPECT_FALSE(holds(c, R"({"msg":"no level"})"));
}

TEST(json_fields, exists_tells_present_from_absent) {
  EXPECT_TRUE(holds(condition("trace_id", json_condition::op::exists), R"({"trace_id":"abc"})"));
  auto absent = condition("trace_id", json_condition::op::exists);
  absent.present = false;
  EXPECT_TRUE(holds(absent, R"({"msg":"x"})"));
}

TEST(json_fields, ne_holds_when_the_field_differs) {
  const auto c = condition("level", json_condition::op::ne, {"info"});
  EXPECT_TRUE(holds(c, R"({"level":"error"})"));
  EXPECT_FALSE(holds(c, R"({"level":"info"})"));
  EXPECT_FALSE(holds(c, R"({"msg":"no level"})"));
}

TEST(json_fields, lines_that_are_not_objects_are_not_parsed) {
  json_line parser;
  EXPECT_EQ(parser.parse("plain text ERROR"), nullptr);
  EXPECT_EQ(parser.parse("[1,2,3]"), nullptr);
  EXPECT_EQ(parser.parse(R"({"unclosed":)"), nullptr);
  EXPECT_NE(parser.parse(R"(  {"indented":true})"), nullptr);
}

TEST(json_fields, nesting_deeper_than_the_bound_is_refused) {
  json_line parser;
  std::string deep(json_line::max_depth + 1, '[');
  deep = "{\"a\":" + deep + std::string(json_line::max_depth + 1, ']') + "}";
  EXPECT_EQ(parser.parse(deep), nullptr);
  EXPECT_NE(parser.parse(R"({"a":[[[1]]]})"), nullptr);
}

TEST(json_fields, invalid_utf8_inside_a_string_does_not_refuse_the_line) {
  json_line parser;
  EXPECT_NE(parser.parse("{\"msg\":\"bad \xff byte\",\"level\":\"error\"}"), nullptr);
}

TEST(json_fields, parser_is_reusable_line_after_line) {
  json_line parser;
  for (int i = 0; i < 1000; ++i) {
    const auto* o = parser.parse(R"({"level":"error","n":)" + std::to_string(i) + "}");
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->at("n").as_int64(), i);
  }
}

}  // namespace
}  // namespace vitals
