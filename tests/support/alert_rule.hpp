#pragma once

// An alert rule built in a test, the way the config loader would build it.

#include "daemon/alerts/alert_rules.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace vitals::test {

inline alerts::rule make_rule(const std::string& name, const std::string& when,
                              std::chrono::milliseconds for_ = std::chrono::milliseconds(0),
                              std::chrono::milliseconds keep_firing_for = std::chrono::milliseconds(0),
                              const std::string& summary = "{{ $labels.probe }} is down ({{ $value }})") {
  alerts::rule r;
  r.name = name;
  r.when_text = when;
  auto parsed = alerts::parse_expr(when);
  EXPECT_TRUE(parsed.value) << when;
  r.when = std::move(parsed.value);
  r.for_ = for_;
  r.keep_firing_for = keep_firing_for;
  r.severity = "high";
  r.summary = summary;
  return r;
}

}  // namespace vitals::test
