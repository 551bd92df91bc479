// Snapshots of /metrics: frozen while the loop goes on, and read by the
// alert engine sample for sample as a scrape shows them.

#include "daemon/metrics/metrics_snapshot.hpp"

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/metrics/metrics.hpp"
#include "support/exposition_text.hpp"
#include "support/fake_kind.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace vitals {
namespace {

using test::fake_outcome;
using test::fake_settings;

// Two probes, one failing, with kind samples whose labels need escaping,
// a NaN, and the daemon's own series (a lag histogram, a reload gauge).
struct busy_metrics {
  probe_registry registry = test::fake_registry();
  metrics m{registry};
  busy_metrics() {
    m.probe_added(fake_settings("api"));
    m.probe_added(fake_settings("db"));
    m.run_finished(fake_settings("api"), fake_outcome(true, {{"vitals_fake_value", {{"slot", "say \"hi\"\n"}}, 7},
                                                             {"vitals_fake_events_total", {}, 3}}),
                   true);
    m.run_finished(fake_settings("db"),
                   fake_outcome(false, {{"vitals_fake_value", {}, std::numeric_limits<double>::quiet_NaN()}}), false);
    m.scheduler_lag(0.002);
    m.config_loaded(true);
  }
};

std::string key(const alerts::series& s) {
  std::string k = s.name;
  for (const auto& [n, v] : s.label_values) k += "|" + n + "=" + v;
  return k + " " + (std::isnan(s.value) ? "NaN" : std::to_string(s.value));
}

std::vector<std::string> keys(const std::vector<alerts::series>& all) {
  std::vector<std::string> out;
  for (const auto& s : all) out.push_back(key(s));
  std::sort(out.begin(), out.end());
  return out;
}

TEST(metrics_snapshot, visits_every_sample_the_text_shows) {
  busy_metrics b;
  const auto snap = b.m.snapshot();
  std::vector<alerts::series> visited;
  snap->visit({}, [&](const sample_view& s) {
    auto& x = visited.emplace_back();
    x.name = s.name;
    for (const auto& [n, v] : s.labels) x.label_values.emplace(n, v);
    x.value = s.value;
  });
  const auto parsed = test::parse_exposition(snap->text());
  ASSERT_GT(parsed.size(), 40u);  // two probes' series and the daemon's own
  EXPECT_EQ(keys(visited), keys(parsed));
}

TEST(metrics_snapshot, selects_for_the_alert_engine_only_the_names_asked_for) {
  busy_metrics b;
  const auto snap = b.m.snapshot();
  const metric_name_set names{"vitals_probe_up", "vitals_fake_value", "vitals_scheduler_lag_seconds_count",
                              "vitals_config_last_reload_successful"};
  std::vector<alerts::series> expected;
  for (auto& s : test::parse_exposition(snap->text()))
    if (names.contains(s.name)) expected.push_back(std::move(s));
  const auto selected = alerts::select_series(*snap, names);
  EXPECT_EQ(keys(selected), keys(expected));
  EXPECT_EQ(selected.size(), 2u + 2u + 1u + 1u);
  EXPECT_TRUE(alerts::select_series(*snap, {}).empty());
}

TEST(metrics_snapshot, keeps_its_values_while_the_loop_records_new_runs) {
  busy_metrics b;
  const auto before = b.m.snapshot();
  const auto before_text = before->text();
  b.m.run_finished(fake_settings("api"), fake_outcome(false), false);
  b.m.run_skipped(fake_settings("db"));
  b.m.probe_removed(fake_settings("db"));
  EXPECT_EQ(before->text(), before_text);
  EXPECT_EQ(before->probes(), 2u);
  const auto now = b.m.serialize();
  EXPECT_NE(now.find(R"(vitals_probe_success{kind="fake",probe="api"} 0)"), std::string::npos) << now;
  EXPECT_EQ(now.find(R"(probe="db")"), std::string::npos);
}

TEST(metrics_snapshot, hands_out_the_text_in_pieces_that_make_up_the_whole) {
  busy_metrics b;
  const auto snap = b.m.snapshot();
  std::string joined;
  int pieces = 0;
  snap->write(
      [&](std::string_view piece) {
        ++pieces;
        joined += piece;
      },
      256);
  EXPECT_GT(pieces, 5);
  EXPECT_EQ(joined, snap->text());
}

TEST(metrics_snapshot, a_line_longer_than_a_piece_comes_out_whole_and_in_place) {
  probe_registry registry = test::fake_registry();
  metrics m{registry};
  m.probe_added(fake_settings("api"));
  // One value longer than the room kept for a line, one longer than a whole
  // piece, each with bytes to escape and to replace, between ordinary lines.
  const std::string longer_than_room = std::string(5000, 'a') + "\"\xff";
  const std::string longer_than_piece = std::string(200'000, 'b') + "\n";
  m.run_finished(fake_settings("api"),
                 fake_outcome(true, {{"vitals_fake_value", {{"slot", "1"}}, 1},
                                     {"vitals_fake_value", {{"slot", longer_than_room}}, 2},
                                     {"vitals_fake_value", {{"slot", "3"}}, 3},
                                     {"vitals_fake_value", {{"slot", longer_than_piece}}, 4},
                                     {"vitals_fake_value", {{"slot", "5"}}, 5}}),
                 true);
  const auto snap = m.snapshot();
  std::string joined;
  snap->write([&](std::string_view piece) { joined += piece; }, 1024);
  EXPECT_EQ(joined, snap->text());

  std::vector<std::pair<std::string, double>> slots;
  for (const auto& s : test::parse_exposition(joined))
    if (s.name == "vitals_fake_value") slots.emplace_back(s.label_values.at("slot"), s.value);
  ASSERT_EQ(slots.size(), 5u);
  EXPECT_EQ(slots[1], std::pair(std::string(5000, 'a') + "\"\xEF\xBF\xBD", 2.0));
  EXPECT_EQ(slots[3], std::pair(longer_than_piece, 4.0));
  EXPECT_EQ(slots[4], std::pair(std::string("5"), 5.0));
}

}  // namespace
}  // namespace vitals
