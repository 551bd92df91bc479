#include "daemon/sched/health_tracker.hpp"

#include <gtest/gtest.h>

#include <initializer_list>

using vitals::health_tracker;

namespace {
// Feeds runs (1 = success, 0 = failure) and returns the state after each.
std::vector<bool> feed(health_tracker& t, std::initializer_list<int> runs) {
  std::vector<bool> states;
  for (int r : runs) {
    t.record(r == 1);
    states.push_back(t.up().value());
  }
  return states;
}
}  // namespace

TEST(health_tracker, state_is_unknown_before_the_first_run) {
  health_tracker t({1, 1, 1});
  EXPECT_FALSE(t.up().has_value());
}

TEST(health_tracker, default_thresholds_follow_each_result) {
  health_tracker t({1, 1, 1});
  EXPECT_EQ(feed(t, {1, 0, 1, 0}), (std::vector<bool>{true, false, true, false}));
}

TEST(health_tracker, goes_down_only_after_consecutive_failure_threshold) {
  health_tracker t({3, 1, 3});
  EXPECT_EQ(feed(t, {1, 0, 0, 1, 0, 0, 0}), (std::vector<bool>{true, true, true, true, true, true, false}));
}

TEST(health_tracker, first_failures_below_threshold_do_not_mark_down) {
  health_tracker t({3, 1, 3});
  EXPECT_EQ(feed(t, {0, 0}), (std::vector<bool>{true, true}));
  t.record(false);
  EXPECT_EQ(t.up(), false);
}

TEST(health_tracker, flapping_target_is_caught_by_failure_window) {
  // 1-0-1-0: never two failures in a row, but 3 of the last 5 runs failed.
  health_tracker consecutive({3, 1, 3});
  health_tracker windowed({3, 2, 5});
  EXPECT_EQ(feed(consecutive, {1, 0, 1, 0, 1, 0, 1, 0}).back(), true);
  EXPECT_EQ(feed(windowed, {0, 1, 0, 1, 0}), (std::vector<bool>{true, true, true, true, false}));
}

TEST(health_tracker, recovery_needs_success_threshold_in_a_row) {
  health_tracker t({1, 3, 1});
  EXPECT_EQ(feed(t, {0, 1, 1, 0, 1, 1, 1}), (std::vector<bool>{false, false, false, false, false, false, true}));
}

TEST(health_tracker, record_reports_transitions_only) {
  health_tracker t({1, 1, 1});
  EXPECT_TRUE(t.record(true));    // unknown -> up
  EXPECT_FALSE(t.record(true));
  EXPECT_TRUE(t.record(false));   // up -> down
  EXPECT_FALSE(t.record(false));
  EXPECT_TRUE(t.record(true));    // down -> up
}

TEST(health_tracker, window_is_capped_at_64_runs) {
  health_tracker t({64, 1, 100});
  for (int i = 0; i < 63; ++i) t.record(false);
  EXPECT_EQ(t.up(), true);
  t.record(false);
  EXPECT_EQ(t.up(), false);
  EXPECT_EQ(t.failures_in_window(), 64);
}
