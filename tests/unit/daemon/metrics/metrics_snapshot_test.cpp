// Snapshots of /metrics: frozen while the loop goes on, and read by the
// alert engine sample for sample as a scrape shows them.

#include "daemon/metrics/metrics_snapshot.hpp"

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/metrics/exposition.hpp"
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

// The line exposition::append_* would write for a fake kind sample.
std::string reference_line(const std::string& slot, double value) {
  std::string line = "vitals_fake_value{";
  exposition::append_label(line, "probe", "api", true);
  exposition::append_label(line, "slot", slot);
  line += "} ";
  exposition::append_value(line, value);
  return line + "\n";
}

TEST(metrics_snapshot, lines_longer_than_a_piece_come_out_whole_as_the_appending_writer_spells_them) {
  probe_registry registry = test::fake_registry();
  metrics m{registry};
  m.probe_added(fake_settings("api"));
  // With pieces of 1 KiB: a line longer than a piece but within the room
  // kept for one (written in place, its quotes escaped), one longer than
  // that room, one longer than the whole buffer, between ordinary lines.
  const std::vector<std::string> slots = {"1", std::string(1300, '"') + "\xff", "3",
                                          std::string(5000, 'a') + "\"\xff", std::string(200'000, 'b') + "\n", "6"};
  std::vector<sample> samples;
  for (std::size_t i = 0; i < slots.size(); ++i)
    samples.push_back({"vitals_fake_value", {{"slot", slots[i]}}, static_cast<double>(i + 1)});
  m.run_finished(fake_settings("api"), fake_outcome(true, samples), true);
  const auto snap = m.snapshot();
  std::string joined;
  snap->write([&](std::string_view piece) { joined += piece; }, 1024);

  std::string expected;
  for (std::size_t i = 0; i < slots.size(); ++i) expected += reference_line(slots[i], static_cast<double>(i + 1));
  EXPECT_NE(joined.find("# TYPE vitals_fake_value gauge\n" + expected), std::string::npos);
  EXPECT_EQ(joined, snap->text());
}

}  // namespace
}  // namespace vitals
