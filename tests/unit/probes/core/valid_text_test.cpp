#include "probes/core/valid_text.hpp"

#include <gtest/gtest.h>

namespace vitals {
namespace {

const std::string fffd = "\xEF\xBF\xBD";

TEST(valid_utf8, keeps_valid_text_unchanged) {
  const std::string text = "node ✓ 日本 \xF0\x9F\x98\x80 plain";
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_EQ(valid_utf8(text), text);
}

TEST(valid_utf8, replaces_a_lone_high_byte) {
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_EQ(valid_utf8("\xff"), fffd);
  EXPECT_EQ(valid_utf8("a\xffz"), "a" + fffd + "z");
}

TEST(valid_utf8, replaces_a_truncated_sequence_once) {
  // The first two bytes of a three-byte sequence are one ill-formed subpart.
  EXPECT_EQ(valid_utf8("\xE2\x9C"), fffd);
  EXPECT_EQ(valid_utf8("\xE2\x9Cx"), fffd + "x");
}

TEST(valid_utf8, rejects_overlongs_surrogates_and_beyond_the_last_code_point) {
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_TRUE(is_valid_utf8(valid_utf8("\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80")));
}

TEST(valid_utf8, keeps_nul_and_controls_which_are_valid_utf8) {
  const std::string text("a\0b\n", 4);
  EXPECT_EQ(valid_utf8(text), text);
}

TEST(valid_utf8, in_place_fix_matches_the_copying_one) {
  std::string text = "x\x80\x80y\xF0\x9F";
  const std::string expected = valid_utf8(text);
  make_valid_utf8(text);
  EXPECT_EQ(text, expected);
  EXPECT_TRUE(is_valid_utf8(text));
}

TEST(printable, escapes_control_characters_in_a_quoted_key) {
  EXPECT_EQ(printable("p\rort"), "p\\rort");
  EXPECT_EQ(printable("a\nb\tc\x1b[31m"), "a\\nb\\tc\\x1b[31m");
  EXPECT_EQ(printable(std::string("n\0l", 3)), "n\\x00l");
}

TEST(printable, shows_ill_formed_bytes_as_hex_and_keeps_printable_utf8) {
  EXPECT_EQ(printable("caf\xc3\xa9 \xff"), "caf\xc3\xa9 \\xff");
  EXPECT_EQ(printable("\xc2\x9b"), "\\xc2\\x9b");  // C1 control (CSI)
}

}  // namespace
}  // namespace vitals

namespace vitals {
namespace {

TEST(first_invalid_utf8, finds_the_offset_past_a_long_ascii_run) {
  EXPECT_EQ(first_invalid_utf8(std::string(100, 'a')), std::string_view::npos);
  EXPECT_EQ(first_invalid_utf8(std::string(37, 'a') + "\xff" + std::string(20, 'b')), 37u);
  EXPECT_EQ(first_invalid_utf8("\xc3\xa9\xc3"), 2u);
}

}  // namespace
}  // namespace vitals
