// Alert states as Prometheus keeps them: pending, firing after `for`,
// resolved, held by keep_firing_for; templates.

#include "daemon/alerts/alert_engine.hpp"

#include "support/alert_rule.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace vitals::alerts {
namespace {

using namespace std::chrono_literals;

// The engine tests' rules carry a team label.
rule make_rule(const std::string& name, const std::string& when, std::chrono::milliseconds for_ = 0ms,
               std::chrono::milliseconds keep = 0ms) {
  rule r = test::make_rule(name, when, for_, keep);
  r.labels = {{"team", "platform"}};
  return r;
}

std::vector<series> up(double api, double db) {
  return {{"vitals_probe_up", {{"probe", "api"}, {"kind", "port"}}, api},
          {"vitals_probe_up", {{"probe", "db"}, {"kind", "postgres"}}, db}};
}

std::vector<std::string> kinds(const std::vector<transition>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) {
    const char* k = t.what == transition::kind::pending ? "pending" : t.what == transition::kind::firing ? "firing" : "resolved";
    out.push_back(std::string(k) + " " + t.alert.label_values.at("probe"));
  }
  return out;
}

using names = std::vector<std::string>;
const auto t0 = wall_clock::time_point{} + std::chrono::hours(24 * 365 * 50);

TEST(alert_engine, pending_until_for_has_passed_then_firing_then_resolved) {
  engine e;
  e.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 60s)});
  EXPECT_EQ(kinds(e.evaluate(up(0, 1), t0)), names{"pending api"});
  EXPECT_EQ(kinds(e.evaluate(up(0, 1), t0 + 30s)), names{});
  EXPECT_EQ(kinds(e.evaluate(up(0, 1), t0 + 60s)), names{"firing api"});
  ASSERT_EQ(e.active().size(), 1u);
  const auto a = e.active()[0];
  EXPECT_EQ(a.state, alert_state::firing);
  EXPECT_EQ(a.active_since, t0);
  EXPECT_EQ(a.fired_at, t0 + 60s);
  EXPECT_EQ(a.label_values, (labels{{"alertname", "ProbeDown"}, {"kind", "port"}, {"probe", "api"},
                                    {"severity", "high"}, {"team", "platform"}}));
  EXPECT_EQ(a.summary, "api is down (0)");
  EXPECT_EQ(kinds(e.evaluate(up(1, 1), t0 + 75s)), names{"resolved api"});
  EXPECT_TRUE(e.active().empty());
}

TEST(alert_engine, a_condition_that_flaps_inside_for_never_fires) {
  engine e;
  e.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 60s)});
  e.evaluate(up(0, 1), t0);
  e.evaluate(up(1, 1), t0 + 30s);  // gone while pending: dropped silently
  EXPECT_EQ(kinds(e.evaluate(up(0, 1), t0 + 60s)), names{"pending api"});  // starts over
  EXPECT_EQ(kinds(e.evaluate(up(0, 1), t0 + 119s)), names{});
  EXPECT_EQ(kinds(e.evaluate(up(0, 1), t0 + 120s)), names{"firing api"});
}

TEST(alert_engine, zero_for_fires_at_once_one_instance_per_label_set) {
  engine e;
  e.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0")});
  EXPECT_EQ(kinds(e.evaluate(up(0, 0), t0)), (names{"firing api", "firing db"}));
  EXPECT_EQ(kinds(e.evaluate(up(0, 1), t0 + 15s)), names{"resolved db"});
}

TEST(alert_engine, keep_firing_for_holds_a_resolved_condition) {
  engine e;
  e.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 0s, 60s)});
  e.evaluate(up(0, 1), t0);
  EXPECT_EQ(kinds(e.evaluate(up(1, 1), t0 + 30s)), names{});
  EXPECT_EQ(kinds(e.evaluate(up(0, 1), t0 + 45s)), names{});  // back before it resolved: still the same alert
  EXPECT_EQ(e.active()[0].fired_at, t0);
  // Held from the first evaluation that missed it (100 s), as Prometheus does.
  EXPECT_EQ(kinds(e.evaluate(up(1, 1), t0 + 100s)), names{});
  EXPECT_EQ(kinds(e.evaluate(up(1, 1), t0 + 159s)), names{});
  EXPECT_EQ(kinds(e.evaluate(up(1, 1), t0 + 160s)), names{"resolved api"});
}

TEST(alert_engine, unchanged_rules_keep_their_state_across_a_reload) {
  engine e;
  e.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 60s), make_rule("Other", "vitals_probe_up == 1")});
  e.evaluate(up(0, 1), t0);
  e.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 60s), make_rule("Other", "vitals_probe_up > 0")});
  const auto active = e.active();
  ASSERT_EQ(active.size(), 1u);  // Other changed its expression: starts over
  EXPECT_EQ(active[0].rule, "ProbeDown");
  // ProbeDown fires 60 s after its first sighting, before the reload; Other fires at once.
  EXPECT_EQ(kinds(e.evaluate(up(0, 1), t0 + 60s)), (names{"firing api", "firing db"}));
}

// --- Restoring what a previous run saved ---------------------------------

std::map<std::string, std::string> exprs_of(const engine& e) {
  std::map<std::string, std::string> out;
  for (const auto& r : e.rules()) out[r.name] = r.when->text();
  return out;
}

TEST(alert_engine, a_restored_firing_alert_keeps_its_start_and_is_not_announced_again) {
  engine before;
  before.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 60s)});
  before.evaluate(up(0, 1), t0);
  before.evaluate(up(0, 1), t0 + 60s);
  const auto saved = before.active();
  ASSERT_EQ(saved.size(), 1u);

  engine after;
  after.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 60s)});
  EXPECT_TRUE(after.restore(saved, exprs_of(before), t0 + 90s).empty());
  EXPECT_TRUE(after.evaluate(up(0, 1), t0 + 95s).empty());
  const auto active = after.active();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].state, alert_state::firing);
  EXPECT_EQ(active[0].fired_at, t0 + 60s);
  EXPECT_EQ(active[0].active_since, t0);
}

TEST(alert_engine, a_restored_alert_waits_for_its_probe_before_it_can_resolve) {
  engine before;
  before.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0")});
  before.evaluate(up(0, 1), t0);
  engine after;
  after.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0")});
  after.restore(before.active(), exprs_of(before), t0 + 10s);
  // Just started: no probe has run, so no series at all. Not a recovery.
  EXPECT_TRUE(after.evaluate({}, t0 + 11s).empty());
  after.settle_restored([](const alert_instance&) { return false; });
  EXPECT_TRUE(after.evaluate({}, t0 + 12s).empty());
  EXPECT_EQ(after.active().size(), 1u);
  // Its probe has run and is up: now it resolves.
  after.settle_restored([](const alert_instance& a) { return a.label_values.at("probe") == "api"; });
  EXPECT_EQ(kinds(after.evaluate(up(1, 1), t0 + 13s)), names{"resolved api"});
}

TEST(alert_engine, a_restored_pending_alert_resumes_only_after_a_short_gap) {
  engine before;
  before.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 60s)});
  before.evaluate(up(0, 1), t0);
  before.evaluate(up(0, 1), t0 + 30s);  // pending, last seen at +30s

  engine quick;
  quick.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 60s)});
  quick.restore(before.active(), exprs_of(before), t0 + 40s);
  EXPECT_EQ(kinds(quick.evaluate(up(0, 1), t0 + 60s)), names{"firing api"});

  engine slow;  // down longer than `for`: nothing says it held meanwhile
  slow.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0", 60s)});
  slow.restore(before.active(), exprs_of(before), t0 + 200s);
  EXPECT_TRUE(slow.evaluate(up(0, 1), t0 + 220s).empty());
  EXPECT_EQ(kinds(slow.evaluate(up(0, 1), t0 + 260s)), names{"firing api"});
}

TEST(alert_engine, instances_of_a_changed_or_removed_rule_are_handed_back) {
  engine before;
  before.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0"), make_rule("Gone", "vitals_probe_up == 1")});
  before.evaluate(up(0, 1), t0);
  auto saved = before.active();
  ASSERT_EQ(saved.size(), 2u);

  engine after;
  after.set_rules({make_rule("ProbeDown", "vitals_probe_up < 1")});
  const auto left = after.restore(saved, exprs_of(before), t0 + 1s);
  EXPECT_EQ(left.size(), 2u);
  EXPECT_TRUE(after.active().empty());

  // The same on a reload: what the new rules drop comes back to the caller.
  const auto dropped = before.set_rules({make_rule("ProbeDown", "vitals_probe_up == 0")});
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].rule, "Gone");
  EXPECT_EQ(before.active().size(), 1u);
}

}  // namespace
}  // namespace vitals::alerts
