#include "probes/core/units.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

using namespace std::chrono_literals;

namespace vitals {
namespace {

// ---- durations -------------------------------------------------------------

TEST(duration, parses_every_unit_decimals_and_sums) {
  struct row {
    const char* text;
    std::chrono::milliseconds expected;
  };
  const row rows[] = {
      {"250ms", 250ms},       {"15s", 15s},         {"2m", 2min},         {"1h", 1h},
      {"1d", 24h},            {"1m30s", 90s},       {"1.5s", 1500ms},     {"0.5m", 30s},
      {"2h30m", 150min},      {"1h0m5s", 3605s},    {"0s", 0ms},          {"1s500ms", 1500ms},
      {"1.25h", 75min},       {"10.000s", 10s},     {"0.001s", 1ms},      {"90m", 90min},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.text);
    auto d = parse_duration(r.text);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, r.expected);
  }
}

TEST(duration, rejects_bare_numbers_signs_spaces_and_unknown_units) {
  const char* rows[] = {"",     "15",   "fast", "-5s",  "+5s",   "5 s",   "5S",  "1.5",
                        "1.s",  ".5s",  "5sec", "1m30", "s",     "5us",   "ms",  "0.0001s",
                        "1e3s", " 5s",  "5s ",  "5s-1s", "99999999999999999999s", "1,5s"};
  for (const char* text : rows) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_duration(text).has_value());
  }
}

TEST(duration, format_gives_the_shortest_readable_form) {
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(15s), "15s");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(24h), "1d");
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(3605s), "1h5s");
  EXPECT_EQ(format_duration(60250ms), "1m0.25s");
}

TEST(duration, formatted_text_parses_back_to_the_same_value) {
  for (auto d : {1ms, 250ms, 1500ms, 15000ms, 90000ms, 3605000ms, 86400001ms, 60250ms}) {
    SCOPED_TRACE(d.count());
    EXPECT_EQ(parse_duration(format_duration(d)), d);
  }
}

// ---- sizes -----------------------------------------------------------------

TEST(size, parses_bytes_and_decimal_and_binary_units) {
  struct row {
    const char* text;
    std::uint64_t expected;
  };
  const row rows[] = {
      {"512", 512},
      {"0", 0},
      {"1B", 1},
      {"10KB", 10'000},
      {"10MB", 10'000'000},
      {"1GB", 1'000'000'000},
      {"2TB", 2'000'000'000'000},
      {"64KiB", 65'536},
      {"64MiB", 64ull << 20},
      {"1GiB", 1ull << 30},
      {"1TiB", 1ull << 40},
      {"1.5GB", 1'500'000'000},
      {"1.5KiB", 1'536},
      {"10mb", 10'000'000},
      {"4kib", 4'096},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.text);
    auto n = parse_size(r.text);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, r.expected);
  }
}

TEST(size, rejects_fractional_bytes_signs_spaces_and_unknown_units) {
  const char* rows[] = {"",    "big", "-1",   "1.5",   "10 MB", "10XB", "0.1B",
                        "KB",  "+5",  "1e3",  "10M",   "1.KB",  "99999999999999999999",
                        "20000000TiB"};
  for (const char* text : rows) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_size(text).has_value());
  }
}

}  // namespace
}  // namespace vitals
