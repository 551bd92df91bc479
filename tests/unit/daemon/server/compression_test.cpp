// gzip for /metrics: who gets it, and that what is sent inflates to the
// text that was written.

#include "daemon/server/compression.hpp"

#include "support/gunzip.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace vitals {
namespace {

TEST(accepts_gzip, follows_what_the_client_named_and_its_weight) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("deflate, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_TRUE(accepts_gzip("br, *"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("*, gzip;q=0"));  // named and refused, whatever * says
  EXPECT_FALSE(accepts_gzip("gzip;q=zero"));
  EXPECT_FALSE(accepts_gzip("gzipped"));
}

TEST(gzip_writer, output_inflates_to_the_pieces_written_with_either_buffer) {
  for (const bool small : {false, true}) {
    std::string text;
    gzip_writer z(1, small);
    for (int i = 0; i < 20000; ++i) {
      const std::string line = "vitals_probe_up{kind=\"port\",probe=\"p" + std::to_string(i) + "\"} 1\n";
      z.write(line);
      text += line;
    }
    const auto packed = z.finish();
    EXPECT_LT(packed.size() * 5, text.size()) << small;  // an exposition shrinks several times over
    EXPECT_EQ(test::gunzip(packed), text) << small;
  }
}

TEST(gzip_writer, one_large_piece_at_level_0_inflates_to_itself) {
  std::string text;
  for (int i = 0; text.size() < 3'000'000; ++i) text += "vitals_probe_success{probe=\"p" + std::to_string(i) + "\"} 1\n";
  gzip_writer z(0);
  z.write(text);
  const auto packed = z.finish();
  EXPECT_LT(packed.size() * 5, text.size());  // level 0 still finds the repeats of an exposition
  EXPECT_EQ(test::gunzip(packed), text);
}

TEST(gzip_writer, a_level_it_does_not_have_is_refused) {
  EXPECT_THROW(gzip_writer(2), std::invalid_argument);
  EXPECT_THROW(gzip_writer(-1), std::invalid_argument);
}

TEST(gzip_writer, an_empty_body_is_still_a_whole_gzip_stream) {
  gzip_writer z;
  EXPECT_EQ(test::gunzip(z.finish()), "");
}

}  // namespace
}  // namespace vitals
