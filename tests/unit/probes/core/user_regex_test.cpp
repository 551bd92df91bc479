#include "probes/core/user_regex.hpp"

#include <gtest/gtest.h>

namespace vitals {
namespace {

user_regex compiled(std::string_view pattern, user_regex::anchoring how) {
  std::string why;
  auto re = user_regex::compile(pattern, how, why);
  EXPECT_TRUE(re) << why;
  return *re;
}

TEST(user_regex, search_finds_the_pattern_anywhere) {
  const auto re = compiled("\"status\":\\s*\"ok\"", user_regex::anchoring::search);
  EXPECT_TRUE(re.matches("{\"db\":1,\"status\": \"ok\"}"));
  EXPECT_FALSE(re.matches("{\"status\":\"down\"}"));
}

TEST(user_regex, whole_matching_is_anchored_like_promql) {
  const auto re = compiled("api|db", user_regex::anchoring::whole);
  EXPECT_TRUE(re.matches("api"));
  EXPECT_FALSE(re.matches("api-2"));
}

TEST(user_regex, whole_matching_lets_dot_cross_a_newline_only_with_s_as_prometheus_2_does) {
  EXPECT_FALSE(compiled("a.b", user_regex::anchoring::whole).matches("a\nb"));
  EXPECT_TRUE(compiled("(?s)a.b", user_regex::anchoring::whole).matches("a\nb"));
}

std::string refusal(std::string_view pattern, user_regex::anchoring how = user_regex::anchoring::whole) {
  std::string why;
  EXPECT_FALSE(user_regex::compile(pattern, how, why)) << pattern;
  return why;
}

TEST(user_regex, whole_refuses_any_byte_which_prometheus_does_not_know) {
  EXPECT_NE(refusal("a\\Cb").find("\\C (any byte)"), std::string::npos);
  compiled("\\\\C", user_regex::anchoring::whole);  // an escaped backslash, then C
  compiled("\\Q\\C\\E", user_regex::anchoring::whole);  // quoted: the two characters
  compiled("a\\Cb", user_regex::anchoring::search);     // probes' own patterns keep RE2's dialect
}

TEST(user_regex, whole_refuses_unicode_scripts_newer_than_prometheus_knows) {
  for (const char* pattern : {"\\p{Kawi}", "\\P{Toto}", "[\\p{^Vithkuqi}]", "(?i)\\p{Old_Uyghur}"})
    EXPECT_NE(refusal(pattern).find("Unicode 13"), std::string::npos) << pattern;
  compiled("\\p{Greek}\\p{Yezidi}", user_regex::anchoring::whole);  // Unicode 13 and before
}

TEST(user_regex, whole_refuses_a_quote_left_open_which_would_swallow_the_anchoring) {
  EXPECT_NE(refusal("\\Qa.b").find("\\Q without \\E"), std::string::npos);
  EXPECT_TRUE(compiled("\\Qa.b\\E", user_regex::anchoring::whole).matches("a.b"));
  EXPECT_FALSE(compiled("\\Qa.b\\E", user_regex::anchoring::whole).matches("axb"));
}

TEST(user_regex, whole_allows_a_group_name_twice_and_only_ascii_names) {
  const auto re = compiled("(?P<x>a)(?P<x>b)", user_regex::anchoring::whole);
  EXPECT_TRUE(re.matches("ab"));
  EXPECT_EQ(re.pattern(), "(?P<x>a)(?P<x>b)");
  EXPECT_NE(refusal("(?P<\xc3\xb1>x)").find("invalid group name"), std::string::npos);
  EXPECT_NE(refusal("(?P<a-b>x)").find("invalid group name"), std::string::npos);
}

TEST(user_regex, whole_refuses_capturing_groups_nested_as_deep_as_prometheus_does) {
  const auto nested = [](int depth) { return std::string(depth, '(') + "a" + std::string(depth, ')'); };
  EXPECT_TRUE(compiled(nested(998), user_regex::anchoring::whole).matches("a"));
  EXPECT_NE(refusal(nested(999)).find("nested 999 deep"), std::string::npos);
  // Non-capturing groups vanish from Go's tree and do not count.
  std::string plain;
  for (int i = 0; i < 1001; ++i) plain += "(?:";
  compiled(plain + "a" + std::string(1001, ')'), user_regex::anchoring::whole);
}

TEST(user_regex, a_class_repeated_beyond_the_memory_bound_says_so) {
  EXPECT_NE(refusal("\\pL{1000}").find("more than 8 MiB"), std::string::npos);
}

TEST(user_regex, an_invalid_pattern_says_why) {
  std::string why;
  EXPECT_FALSE(user_regex::compile("(a", user_regex::anchoring::search, why));
  EXPECT_NE(why.find("missing )"), std::string::npos) << why;
  // Backtracking-only syntax is refused with a reason, not accepted and ignored.
  EXPECT_FALSE(user_regex::compile("a(?=b)", user_regex::anchoring::search, why));
}

TEST(user_regex, a_pathological_pattern_on_a_mebibyte_body_stays_linear) {
  const auto re = compiled("(x+x+)+y", user_regex::anchoring::search);
  EXPECT_FALSE(re.matches(std::string(1 << 20, 'x')));
}

TEST(user_regex, invalid_utf8_input_does_not_break_matching) {
  const auto re = compiled("ok", user_regex::anchoring::search);
  EXPECT_TRUE(re.matches("\xff\xfe ok \xc0"));
}

TEST(user_regex, an_oversized_pattern_is_refused_before_compiling) {
  std::string why;
  EXPECT_FALSE(user_regex::compile(std::string(user_regex::max_pattern_bytes + 1, 'a'), user_regex::anchoring::search,
                                   why));
  EXPECT_NE(why.find("longer than"), std::string::npos);
}

}  // namespace
}  // namespace vitals
