#include "probes/log/docker_source.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const log_pattern_set> any_line() {
  std::string error;
  std::vector<log_pattern> patterns;
  patterns.push_back(*log_pattern::compile({"all", ".", {}, ""}, error));
  patterns.push_back(*log_pattern::compile({"error", "ERROR", {}, ""}, error));
  return std::make_shared<const log_pattern_set>(std::move(patterns));
}

class docker_log_decoder_test : public ::testing::Test {
 protected:
  log_tally tally{any_line()};
  std::atomic<bool> stop{false};
  read_pass pass{tally, 1 << 20,      stop, std::chrono::steady_clock::time_point::max(), wall_clock::now(), false,
                 false, std::nullopt, {}};
  docker_log_decoder decoder{"api"};

  void feed(const std::string& envelope) { decoder.line(envelope, false, "x-json.log", pass); }
  const pattern_summary& all() { return (summary_ = tally.summary()).patterns[0]; }

 private:
  tally_summary summary_;
};

TEST_F(docker_log_decoder_test, envelope_gives_the_containers_line_and_its_time) {
  feed(R"({"log":"GET /health 200\n","stream":"stdout","time":"2024-05-01T10:00:00.5Z"})");
  ASSERT_EQ(all().recent.size(), 1u);
  EXPECT_EQ(all().recent[0].text, "GET /health 200");
  EXPECT_EQ(all().recent[0].source, "api");
  EXPECT_EQ(all().recent[0].at, *parse_rfc3339("2024-05-01T10:00:00.500Z"));
}

TEST_F(docker_log_decoder_test, pieces_of_a_long_line_are_joined_before_counting) {
  feed(R"({"log":"first half, ","stream":"stderr","time":"2024-05-01T10:00:00Z"})");
  EXPECT_EQ(tally.summary().lines, 0u);
  feed(R"({"log":"ERROR second half\n","stream":"stderr","time":"2024-05-01T10:00:00Z"})");
  EXPECT_EQ(tally.summary().lines, 1u);
  EXPECT_EQ(all().recent[0].text, "first half, ERROR second half");
  EXPECT_EQ(tally.summary().patterns[1].matches, 1u);
}

TEST_F(docker_log_decoder_test, text_that_is_no_envelope_counts_as_it_is) {
  feed("torn {\"log\":");
  EXPECT_EQ(all().recent.at(0).text, "torn {\"log\":");
}

TEST(parse_rfc3339, reads_utc_offsets_and_fractions) {
  const auto utc = parse_rfc3339("2024-05-01T10:00:00Z");
  ASSERT_TRUE(utc);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(utc->time_since_epoch()).count(), 1714557600);
  EXPECT_EQ(parse_rfc3339("2024-05-01T12:00:00+02:00"), utc);
  EXPECT_EQ(*parse_rfc3339("2024-05-01T10:00:00.123456789Z") - *utc, 123456789ns);
  EXPECT_FALSE(parse_rfc3339("2024-05-01 garbage"));
  EXPECT_FALSE(parse_rfc3339("2024-13-01T10:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-05-01T10:00:00"));
}

TEST(parse_rfc3339, refuses_years_the_clock_cannot_hold) {
  EXPECT_FALSE(parse_rfc3339("4048-05-01T10:00:00.123456789Z"));  // found by fuzz_log_lines: overflowed
  EXPECT_FALSE(parse_rfc3339("1969-12-31T23:59:59Z"));
}

}  // namespace
}  // namespace vitals
