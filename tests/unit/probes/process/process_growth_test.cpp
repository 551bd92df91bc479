// rss_growth_tracker with made-up scan times and RSS values: no processes,
// no clock.

#include "probes/process/rss_growth_tracker.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using clock = rss_growth_tracker::clock;

constexpr double mib = 1024.0 * 1024.0;

class rss_growth : public ::testing::Test {
protected:
  clock::time_point t0 = clock::time_point{} + 1000h;  // far from the epoch, as a real steady clock

  clock::time_point at(std::chrono::milliseconds offset) const { return t0 + offset; }
  static rss_sample proc(int pid, std::uint64_t start, double rss) {
    return {{pid, start}, static_cast<std::uint64_t>(rss)};
  }
};

TEST_F(rss_growth, steady_growth_gives_its_rate) {
  rss_growth_tracker tracker(10min);
  // 1 MiB every 10 s: 104857.6 bytes/s.
  for (int i = 0; i < 10; ++i) tracker.add(at(i * 10s), {proc(100, 7, 50 * mib + i * mib)});
  ASSERT_TRUE(tracker.growth_per_second().has_value());
  EXPECT_NEAR(*tracker.growth_per_second(), mib / 10, 1.0);
  EXPECT_NEAR(*tracker.growth_per_second({100, 7}), mib / 10, 1.0);
}

TEST_F(rss_growth, noisy_growth_gives_the_least_squares_slope) {
  rss_growth_tracker tracker(10min);
  // Alternating +-1 MiB noise around a line of 2 MiB per minute.
  for (int i = 0; i < 20; ++i)
    tracker.add(at(i * 30s), {proc(100, 7, 500 * mib + i * mib + ((i % 2) ? mib : -mib))});
  ASSERT_TRUE(tracker.growth_per_second().has_value());
  EXPECT_NEAR(*tracker.growth_per_second(), mib / 30, mib / 30 * 0.1);
}

TEST_F(rss_growth, no_answer_until_three_scans_span_a_tenth_of_the_window) {
  rss_growth_tracker tracker(10min);  // min_span 1 min
  tracker.add(at(0s), {proc(1, 1, mib)});
  tracker.add(at(30s), {proc(1, 1, 2 * mib)});
  EXPECT_FALSE(tracker.growth_per_second().has_value());  // two scans
  tracker.add(at(50s), {proc(1, 1, 3 * mib)});
  EXPECT_FALSE(tracker.growth_per_second().has_value());  // three scans, 50 s < 1 min
  tracker.add(at(60s), {proc(1, 1, 4 * mib)});
  EXPECT_TRUE(tracker.growth_per_second().has_value());
}

TEST_F(rss_growth, restart_with_the_same_rss_is_not_growth) {
  rss_growth_tracker tracker(10min);
  for (int i = 0; i < 6; ++i) tracker.add(at(i * 15s), {proc(100, 7, 300 * mib)});
  // The process exits and comes back under a new pid, then again under the
  // old pid (reused) but a new start time. Each time its RSS drops and
  // rises back to the old level: summing first would see steps.
  tracker.add(at(90s), {proc(200, 900, 20 * mib)});
  tracker.add(at(105s), {proc(200, 900, 300 * mib)});
  tracker.add(at(120s), {proc(200, 900, 300 * mib)});
  tracker.add(at(135s), {proc(100, 1300, 300 * mib)});
  tracker.add(at(150s), {proc(100, 1300, 300 * mib)});
  ASSERT_TRUE(tracker.growth_per_second().has_value());
  EXPECT_EQ(*tracker.growth_per_second(), 0.0);
  EXPECT_EQ(tracker.tracked_processes(), 1u);
}

TEST_F(rss_growth, a_new_process_joining_is_not_growth) {
  rss_growth_tracker tracker(10min);
  for (int i = 0; i < 6; ++i) tracker.add(at(i * 15s), {proc(1, 1, 100 * mib)});
  // A second worker with 400 MiB appears: the sum jumps from 100 to 500 MiB.
  for (int i = 6; i < 12; ++i) tracker.add(at(i * 15s), {proc(1, 1, 100 * mib), proc(2, 50, 400 * mib)});
  ASSERT_TRUE(tracker.growth_per_second().has_value());
  EXPECT_EQ(*tracker.growth_per_second(), 0.0);
}

TEST_F(rss_growth, a_process_leaving_is_not_shrinkage) {
  rss_growth_tracker tracker(10min);
  for (int i = 0; i < 6; ++i) tracker.add(at(i * 15s), {proc(1, 1, 100 * mib), proc(2, 2, 400 * mib)});
  for (int i = 6; i < 12; ++i) tracker.add(at(i * 15s), {proc(1, 1, 100 * mib)});
  EXPECT_EQ(*tracker.growth_per_second(), 0.0);
}

TEST_F(rss_growth, slopes_of_several_processes_add_up) {
  rss_growth_tracker tracker(10min);
  for (int i = 0; i < 10; ++i)
    tracker.add(at(i * 10s), {proc(1, 1, 100 * mib + i * mib), proc(2, 2, 100 * mib + i * 2 * mib),
                              proc(3, 3, 100 * mib)});
  EXPECT_NEAR(*tracker.growth_per_second(), 3 * mib / 10, 1.0);
}

TEST_F(rss_growth, a_young_process_contributes_nothing_until_it_has_history) {
  rss_growth_tracker tracker(10min);
  for (int i = 0; i < 10; ++i) tracker.add(at(i * 10s), {proc(1, 1, 100 * mib)});
  tracker.add(at(100s), {proc(1, 1, 100 * mib), proc(2, 2, 10 * mib)});
  tracker.add(at(110s), {proc(1, 1, 100 * mib), proc(2, 2, 200 * mib)});  // start-up allocation
  EXPECT_EQ(*tracker.growth_per_second(), 0.0);
  EXPECT_FALSE(tracker.growth_per_second({2, 2}).has_value());
}

TEST_F(rss_growth, points_older_than_the_window_are_dropped) {
  rss_growth_tracker tracker(1min);
  // Growing for the first minute, flat for the next two.
  for (int i = 0; i <= 6; ++i) tracker.add(at(i * 10s), {proc(1, 1, 100 * mib + i * 10 * mib)});
  EXPECT_GT(*tracker.growth_per_second(), 0.0);
  for (int i = 7; i <= 18; ++i) tracker.add(at(i * 10s), {proc(1, 1, 160 * mib)});
  EXPECT_EQ(*tracker.growth_per_second(), 0.0);
}

TEST_F(rss_growth, shrinking_gives_a_negative_slope) {
  rss_growth_tracker tracker(10min);
  for (int i = 0; i < 10; ++i) tracker.add(at(i * 10s), {proc(1, 1, 500 * mib - i * mib)});
  EXPECT_NEAR(*tracker.growth_per_second(), -mib / 10, 1.0);
}

TEST_F(rss_growth, no_matches_forgets_everything) {
  rss_growth_tracker tracker(10min);
  for (int i = 0; i < 10; ++i) tracker.add(at(i * 10s), {proc(1, 1, 100 * mib + i * mib)});
  tracker.add(at(100s), {});
  EXPECT_EQ(tracker.tracked_processes(), 0u);
  EXPECT_EQ(*tracker.growth_per_second(), 0.0);
}

TEST_F(rss_growth, time_going_backwards_restarts_the_history) {
  rss_growth_tracker tracker(10min);
  for (int i = 0; i < 10; ++i) tracker.add(at(i * 10s), {proc(1, 1, 100 * mib + i * mib)});
  tracker.add(at(5s), {proc(1, 1, 100 * mib)});
  EXPECT_FALSE(tracker.growth_per_second().has_value());
}

TEST_F(rss_growth, history_per_process_is_capped) {
  rss_growth_tracker tracker(10min);
  for (int i = 0; i < 2000; ++i) tracker.add(at(i * 100ms), {proc(1, 1, 100 * mib + i * 1000.0)});
  ASSERT_TRUE(tracker.growth_per_second().has_value());  // thinning kept the span
  EXPECT_NEAR(*tracker.growth_per_second(), 10000.0, 1.0);  // 1000 bytes per 100 ms
}

}  // namespace
}  // namespace vitals
