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
  // PromQL lets `.` cross a newline inside a label value.
  EXPECT_TRUE(compiled("a.b", user_regex::anchoring::whole).matches("a\nb"));
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
