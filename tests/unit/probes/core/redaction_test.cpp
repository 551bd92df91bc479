// The one redactor: every secret value, in every form it takes on the way
// out, becomes "<redacted>".

#include "probes/core/redaction.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace vitals {
namespace {

std::string redacted(const redactor& r, std::string text) { return r.redacted(std::move(text)); }

TEST(redactor, without_secrets_changes_nothing) {
  const redactor none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(redacted(none, "password=hunter2 <redacted>"), "password=hunter2 <redacted>");
}

TEST(redactor, replaces_every_occurrence_of_every_secret) {
  const redactor r({"hunter2", "s3cr3t-token"});
  EXPECT_EQ(redacted(r, "a hunter2 b hunter2hunter2 c s3cr3t-token"),
            "a <redacted> b <redacted><redacted> c <redacted>");
}

TEST(redactor, replaces_a_secret_wherever_it_sits_inside_other_text) {
  const redactor r({"port-s3cr3t"});
  EXPECT_EQ(redacted(r, "127.0.0.1:port-s3cr3t has an invalid port \"port-s3cr3t\""),
            "127.0.0.1:<redacted> has an invalid port \"<redacted>\"");
}

TEST(redactor, prefers_the_longest_secret_at_a_position) {
  const redactor r({"abc", "abcdef"});
  EXPECT_EQ(redacted(r, "xabcdefx abcx"), "x<redacted>x <redacted>x");
}

TEST(redactor, redacting_twice_gives_the_same_text) {
  // "e" is inside "<redacted>": the marker must survive a second pass.
  const redactor r({"e"});
  const auto once = redacted(r, "secret");
  EXPECT_EQ(once, "s<redacted>cr<redacted>t");
  EXPECT_EQ(redacted(r, once), once);
}

TEST(redactor, finds_the_percent_encoded_form_a_url_builder_makes) {
  const redactor r({"to ken/&=?"});
  EXPECT_EQ(redacted(r, "GET /health?access_token=to%20ken%2F%26%3D%3F HTTP/1.1"),
            "GET /health?access_token=<redacted> HTTP/1.1");
  EXPECT_EQ(redacted(r, "to%20ken%2f%26%3d%3f"), "<redacted>");  // lower-case hex
  EXPECT_EQ(redacted(r, "q=to+ken%2F%26%3D%3F"), "q=<redacted>");  // a form's + for a space
  EXPECT_EQ(redacted(r, "q=to%20ken/&=?"), "q=<redacted>");        // only what a query may not hold
}

TEST(redactor, finds_the_json_escaped_form_a_server_echoes) {
  const redactor r({"a\"b\\c/d\né"});
  EXPECT_EQ(redacted(r, R"({"x-signature":"a\"b\\c/d\né"})"), R"({"x-signature":"<redacted>"})");
  EXPECT_EQ(redacted(r, R"({"x":"a\"b\\c\/d\né"})"), R"({"x":"<redacted>"})");       // "/" escaped
  EXPECT_EQ(redacted(r, R"({"x":"a\"b\\c/d\n\u00e9"})"), R"({"x":"<redacted>"})");    // ASCII only
}

TEST(redactor, finds_the_label_escaped_and_html_escaped_forms) {
  const redactor r({"<a & \"b\"'>"});
  EXPECT_EQ(redacted(r, R"(x{v="<a & \"b\"'>"} 1)"), R"(x{v="<redacted>"} 1)");
  EXPECT_EQ(redacted(r, "<td>&lt;a &amp; &quot;b&quot;&#39;&gt;</td>"), "<td><redacted></td>");
  EXPECT_EQ(redacted(r, "<td>&lt;a &amp; &quot;b&quot;&#x27;&gt;</td>"), "<td><redacted></td>");
}

TEST(redactor, finds_a_secret_with_control_characters_as_printable_shows_it) {
  const redactor r({"line1\nline2\x01"});
  EXPECT_EQ(redacted(r, "error: line1\\nline2\\x01"), "error: <redacted>");
}

TEST(redactor, matches_bytes_that_are_not_utf8) {
  const redactor r({"\xff\xfe-key"});
  EXPECT_EQ(redacted(r, "got \xff\xfe-key!"), "got <redacted>!");
}

TEST(redactor, hides_the_first_part_of_a_secret_an_excerpt_cut_in_two) {
  const redactor r({"cut-s3cr3t-value"});
  EXPECT_EQ(redacted(r, "body: {\"token\":\"cut-s3cr…"), "body: {\"token\":\"<redacted>…");
  EXPECT_EQ(redacted(r, "a cut…"), "a cut…");  // too short a part to tell from ordinary text
  EXPECT_EQ(redacted(r, "cut-s3cr3t-value and cut-s3…"), "<redacted> and <redacted>…");
}

TEST(redactor, ignores_empty_values_and_keeps_each_value_once) {
  const redactor r({"", "same", "same"});
  ASSERT_EQ(r.secrets().size(), 1u);
  EXPECT_EQ(redacted(r, "same"), "<redacted>");
  EXPECT_TRUE(redactor({""}).empty());
}

TEST(redactor, copies_share_the_compiled_secrets) {
  const redactor r({"hunter2"});
  const redactor copy = r;
  EXPECT_EQ(redacted(copy, "hunter2"), "<redacted>");
  EXPECT_EQ(copy.secrets().data(), r.secrets().data());
}

TEST(redactor, merge_keeps_the_secrets_of_both) {
  const auto merged = redactor::merge(redactor({"old-secret"}), redactor({"new-secret"}));
  EXPECT_EQ(redacted(merged, "old-secret new-secret"), "<redacted> <redacted>");
  EXPECT_EQ(merged.secrets().front(), "new-secret");
}

TEST(redactor, merge_drops_the_oldest_secrets_beyond_the_bound) {
  std::vector<std::string> old_values;
  for (std::size_t i = 0; i < redactor::max_secrets; ++i) old_values.push_back("old-" + std::to_string(i) + "-end");
  const auto merged = redactor::merge(redactor(old_values), redactor({"new-secret"}));
  EXPECT_EQ(merged.secrets().size(), redactor::max_secrets);
  EXPECT_EQ(redacted(merged, "new-secret old-0-end"), "<redacted> <redacted>");
  EXPECT_EQ(redacted(merged, "old-999-end"), "old-999-end");  // the last of the old ones made room
}

TEST(redactor, many_and_long_secrets_are_all_found) {
  // Long ones (a key file) are searched for one by one; short ones fill
  // more than one compiled group.
  std::vector<std::string> values;
  for (int i = 0; i < 40; ++i) values.push_back(std::string(4000, static_cast<char>('a' + i % 26)) + std::to_string(i));
  for (int i = 0; i < 900; ++i) values.push_back("short-secret-" + std::to_string(i) + "-end");
  const redactor r(values);
  for (const auto& v : values) EXPECT_EQ(redacted(r, "<" + v + ">"), "<<redacted>>") << v.substr(0, 20);
  EXPECT_EQ(redacted(r, "x short-secret-7-end " + values[3] + " y"), "x <redacted> <redacted> y");
}

TEST(redactor, total_size_is_bounded) {
  const redactor r({std::string(redactor::max_total_bytes - 5, 'x'), "small"});
  ASSERT_EQ(r.secrets().size(), 2u);
  const redactor over({std::string(redactor::max_total_bytes + 1, 'y'), "small"});
  ASSERT_EQ(over.secrets().size(), 1u);  // the value over the bound is dropped, the others kept
  EXPECT_EQ(over.secrets().front(), "small");
}

TEST(secret_forms, has_the_secret_first_and_each_form_once) {
  const auto forms = secret_forms("plain");
  ASSERT_EQ(forms.size(), 1u);  // nothing to escape: every form is the value itself
  EXPECT_EQ(forms.front(), "plain");
  const auto escaped = secret_forms("a b");
  EXPECT_EQ(escaped.front(), "a b");
  EXPECT_NE(std::find(escaped.begin(), escaped.end(), "a%20b"), escaped.end());
  EXPECT_NE(std::find(escaped.begin(), escaped.end(), "a+b"), escaped.end());
}

}  // namespace
}  // namespace vitals
