// String literals in the rule language read as PromQL reads them: Go's
// escapes, backquoted raw strings, and an error (not a silently dropped
// backslash) for an escape PromQL does not know. text() writes them back
// so that both the daemon and Prometheus read the same value.

#include "daemon/alerts/alert_expr.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals::alerts {
namespace {

// Whether the selector `vitals_probe_up{probe<op>LITERAL}` keeps a series
// whose probe label is `value`.
bool keeps(const std::string& matcher, const std::string& value) {
  const auto parsed = parse_expr("vitals_probe_up{probe" + matcher + "}");
  EXPECT_TRUE(parsed.value) << matcher << ": " << (parsed.error ? parsed.error->message : "");
  return parsed.value && !parsed.value->eval({{"vitals_probe_up", {{"probe", value}}, 1}}).empty();
}

parse_error error_of(const std::string& text) {
  auto parsed = parse_expr(text);
  EXPECT_FALSE(parsed.value) << text;
  return parsed.error.value_or(parse_error{});
}

TEST(alert_expr_strings, an_escape_promql_does_not_know_is_an_error_with_how_to_write_it) {
  const auto e = error_of(R"(vitals_probe_up{code=~"5\d\d"})");
  EXPECT_EQ(e.column, 25u);
  EXPECT_EQ(e.message, R"(unknown escape sequence "\d" (a regular expression's \d is written "\\d" or in `backquotes`))");
  EXPECT_NE(error_of(R"(vitals_probe_up{probe="\'"})").message.find("unknown escape"), std::string::npos);
}

TEST(alert_expr_strings, a_doubled_backslash_reaches_the_regex_as_one) {
  EXPECT_TRUE(keeps(R"(=~"5\\d\\d")", "503"));
  EXPECT_FALSE(keeps(R"(=~"5\\d\\d")", "5dd"));
}

TEST(alert_expr_strings, backquotes_hold_a_regex_as_written) {
  EXPECT_TRUE(keeps(R"(=~`5\d\d`)", "503"));
  EXPECT_TRUE(keeps(R"(=~`a"b'c`)", "a\"b'c"));
}

TEST(alert_expr_strings, go_escapes_give_their_characters) {
  EXPECT_TRUE(keeps(R"(="\x41\101\u00e9\U0001F642\t\"")", "AA\u00e9\U0001F642\t\""));
  EXPECT_TRUE(keeps(R"(='it\'s')", "it's"));
  for (const char* bad : {R"("\x4")", R"("\400")", R"("\ud800")", R"("\U00110000")", R"("\u12")"})
    EXPECT_FALSE(parse_expr(std::string("vitals_probe_up{probe=") + bad + "}").value) << bad;
}

TEST(alert_expr_strings, a_newline_inside_quotes_leaves_the_string_open) {
  EXPECT_EQ(error_of("vitals_probe_up{probe=\"a\nb\"}").message, "string not closed");
}

TEST(alert_expr_strings, text_writes_control_characters_as_escapes_that_read_back_the_same) {
  const auto parsed = parse_expr(R"(vitals_probe_up{probe="a\tb\x01\n\"\\"})");
  ASSERT_TRUE(parsed.value);
  const auto text = parsed.value->text();
  EXPECT_EQ(text, R"(vitals_probe_up{probe="a\tb\x01\n\"\\"})");
  const auto again = parse_expr(text);
  ASSERT_TRUE(again.value);
  EXPECT_EQ(again.value->text(), text);
}

TEST(alert_expr_strings, text_escapes_what_prometheus_or_yaml_would_not_take_as_written) {
  // U+FFFD (Prometheus's lexer refuses it raw), a noncharacter and a C1
  // control (a YAML emitter replaces them), a byte that is not UTF-8.
  const auto parsed = parse_expr(R"(vitals_probe_up{probe="\ufffd\uffff\u0085\xffé"})");
  ASSERT_TRUE(parsed.value);
  EXPECT_EQ(parsed.value->text(), R"(vitals_probe_up{probe="\ufffd\uffff\u0085\xffé"})");
  EXPECT_FALSE(parsed.value->eval({{"vitals_probe_up", {{"probe", "\xEF\xBF\xBD\xEF\xBF\xBF\xC2\x85\xFF\xC3\xA9"}}, 1}})
                   .empty());
}

}  // namespace
}  // namespace vitals::alerts
