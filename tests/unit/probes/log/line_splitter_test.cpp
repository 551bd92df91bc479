#include "probes/log/line_splitter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace vitals {
namespace {

struct seen_line {
  std::string text;
  bool cut;
  bool operator==(const seen_line&) const = default;
};

std::ostream& operator<<(std::ostream& os, const seen_line& l) {
  return os << "{\"" << l.text << "\", " << l.cut << "}";
}

// Feeds `pieces` one after the other as a reader would: what a call left
// unused is given again in front of the next piece.
std::vector<seen_line> split_all(line_splitter& s, const std::vector<std::string>& pieces,
                                 std::string* left = nullptr) {
  std::vector<seen_line> lines;
  std::string pending;
  for (const auto& piece : pieces) {
    pending += piece;
    const auto used = s.split(pending, [&](std::string_view t, bool cut) { lines.push_back({std::string(t), cut}); });
    pending.erase(0, used);
  }
  if (left) *left = pending;
  return lines;
}

TEST(line_splitter, complete_lines_come_out_without_newline_or_carriage_return) {
  line_splitter s;
  EXPECT_EQ(split_all(s, {"one\ntwo\r\n\nthree\n"}),
            (std::vector<seen_line>{{"one", false}, {"two", false}, {"", false}, {"three", false}}));
}

TEST(line_splitter, partial_last_line_waits_for_its_newline) {
  line_splitter s;
  std::string left;
  EXPECT_EQ(split_all(s, {"one\ntw"}, &left), (std::vector<seen_line>{{"one", false}}));
  EXPECT_EQ(left, "tw");
  EXPECT_EQ(split_all(s, {"two\n"}), (std::vector<seen_line>{{"two", false}}));
}

TEST(line_splitter, line_longer_than_the_limit_is_cut_once_and_its_rest_dropped_across_calls) {
  line_splitter s(8);
  std::string left;
  const auto lines = split_all(s, {"0123456789", "abcdef", "ghij\nnext\n"}, &left);
  EXPECT_EQ(lines, (std::vector<seen_line>{{"01234567", true}, {"next", false}}));
  EXPECT_TRUE(left.empty());
  EXPECT_FALSE(s.dropping());
}

TEST(line_splitter, line_of_exactly_the_limit_is_whole) {
  line_splitter s(4);
  EXPECT_EQ(split_all(s, {"abcd\nabcde\n"}), (std::vector<seen_line>{{"abcd", false}, {"abcd", true}}));
}

TEST(line_splitter, finish_counts_an_unended_last_line) {
  line_splitter s;
  std::vector<seen_line> lines;
  s.finish("last words", [&](std::string_view t, bool cut) { lines.push_back({std::string(t), cut}); });
  EXPECT_EQ(lines, (std::vector<seen_line>{{"last words", false}}));
}

TEST(line_splitter, drop_until_newline_skips_a_fragment_after_a_jump) {
  line_splitter s;
  s.drop_until_newline();
  EXPECT_EQ(split_all(s, {"of a line\nwhole\n"}), (std::vector<seen_line>{{"whole", false}}));
}

TEST(line_splitter, one_mebibyte_line_is_one_cut_line_of_the_limit) {
  line_splitter s;
  const std::string huge(1 << 20, 'x');
  const auto lines = split_all(s, {huge + "\nafter\n"});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].cut);
  EXPECT_EQ(lines[0].text.size(), line_splitter::default_max_line);
  EXPECT_EQ(lines[1], (seen_line{"after", false}));
}

}  // namespace
}  // namespace vitals
