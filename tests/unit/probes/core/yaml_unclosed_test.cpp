#include "probes/core/yaml_unclosed.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

std::string where(const std::string& text) {
  const auto o = unclosed_yaml_opener(text, text.size());
  if (!o) return "none";
  return std::string(1, o->what) + " " + std::to_string(o->line + 1) + ":" + std::to_string(o->column + 1);
}

TEST(yaml_unclosed, finds_the_innermost_open_bracket_or_quote) {
  EXPECT_EQ(where("a: [1, 2\nb: 3\n"), "[ 1:4");
  EXPECT_EQ(where("a: [1, {b: 2\n"), "{ 1:8");
  EXPECT_EQ(where("a: [1, {b: 2}\n"), "[ 1:4");
  EXPECT_EQ(where("- {x: 'it''s\n"), "' 1:7");
  EXPECT_EQ(where("x: \"a \\\" b\ny: 2\n"), "\" 1:4");
}

TEST(yaml_unclosed, closed_documents_and_literal_brackets_are_not_openers) {
  EXPECT_EQ(where("a: [1, [2, 3], {b: \"]\"}]\n"), "none");
  EXPECT_EQ(where("url: http://h/[x]?q={y}\nsummary: don't \"panic\n"), "none");
  EXPECT_EQ(where("a: 1  # [ not a bracket, nor a \" quote\n"), "none");
  EXPECT_EQ(where("description: |\n  a [ in a block scalar\n  and a \" too\nnext: 1\n"), "none");
  EXPECT_EQ(where("key: 'one\n  two'\n"), "none");
}

TEST(yaml_unclosed, looks_only_at_the_first_bytes_it_is_given) {
  const std::string text = "a: [1\nb: 2]\n";
  EXPECT_EQ(unclosed_yaml_opener(text, 6)->line, 0u);
  EXPECT_FALSE(unclosed_yaml_opener(text, text.size()));
}

}  // namespace
}  // namespace vitals
