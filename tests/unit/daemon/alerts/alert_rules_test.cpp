// The alerts section: built-ins, overrides, user rules, and the errors a
// user gets for a broken one.

#include "daemon/alerts/alert_rules.hpp"
#include "daemon/app/config.hpp"
#include "probes/core/probe_registry.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <span>
#include <string>

namespace vitals {
namespace {

class alert_rules_config : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  probe_registry registry;

  alert_rules_config() { register_builtin_probes(registry); }

  load_result load(const std::string& alerts_section) {
    return load_config_text("probes: []\n" + alerts_section, "vitals.yaml", registry, ctx);
  }
  static const alerts::rule* find(const load_result& r, const std::string& name) {
    for (const auto& rule : r.cfg->alert_rules)
      if (rule.name == name) return &rule;
    return nullptr;
  }
  static std::string errors(const load_result& r) {
    std::string all;
    for (const auto& e : r.errors) all += e.str() + "\n";
    return all;
  }
};

TEST_F(alert_rules_config, without_an_alerts_section_every_builtin_is_active) {
  auto r = load("");
  ASSERT_TRUE(r.cfg) << errors(r);
  EXPECT_EQ(r.cfg->alert_rules.size(), 17u);  // one TLSCertExpiringSoon, though http and websocket both list it
  const auto* locked = find(r, "SQLiteLocked");
  ASSERT_NE(locked, nullptr);
  EXPECT_EQ(locked->for_, std::chrono::seconds(30));
  EXPECT_EQ(locked->runbook_url, "/runbooks/SQLiteLocked");  // the daemon's own page, made absolute by the app
  // Without probes a built-in on a kind's own series holds its last value for the minimum, a minute.
  EXPECT_EQ(find(r, "PostgresConnectionsHigh")->when->text(),
            "last_over_time(vitals_postgres_connections_utilization_ratio[1m]) > 0.8");
  EXPECT_EQ(find(r, "RedisEvicting")->when->text(), "rate(vitals_redis_evicted_keys_total[5m]) > 0");
  EXPECT_EQ(find(r, "LogErrorsHigh")->when->text(), "rate(vitals_log_matches_total{pattern=\"error\"}[5m]) * 60 > 10");
  EXPECT_EQ(find(r, "ProbeDown")->when->text(), "vitals_probe_up == 0");
}

TEST_F(alert_rules_config, a_builtin_holds_a_failed_runs_series_for_two_of_its_slowest_probes_intervals) {
  auto r = load_config_text(R"(probes:
  - {name: root, type: disk, path: /, interval: 5m}
  - {name: tmp, type: disk, path: /tmp, interval: 30s}
  - {name: db, type: postgres, conninfo: "host=127.0.0.1 dbname=x", interval: 20s}
alerts:
  evaluation_interval: 10s
)", "vitals.yaml", registry, ctx);
  ASSERT_TRUE(r.cfg) << errors(r);
  // 2 × (5m + 10s)
  EXPECT_EQ(find(r, "DiskSpaceLow")->when->text(), "last_over_time(vitals_disk_free_ratio[10m20s]) < 0.2");
  // 2 × (20s + 10s) is under the minute
  EXPECT_EQ(find(r, "PostgresLongQuery")->when->text(), "last_over_time(vitals_postgres_longest_query_seconds[1m]) > 300");
}

TEST_F(alert_rules_config, the_history_caps_are_read_and_checked) {
  auto r = load("alerts:\n  max_history_series: 200\n  max_history_samples: 50000\n");
  ASSERT_TRUE(r.cfg) << errors(r);
  EXPECT_EQ(r.cfg->alert_max_history_series, 200u);
  EXPECT_EQ(r.cfg->alert_max_history_samples, 50000u);
  r = load("alerts:\n  max_history_series: 0\n  max_history_samples: 10\n");
  EXPECT_FALSE(r.cfg);
  const auto all = errors(r);
  EXPECT_NE(all.find("alerts.max_history_series"), std::string::npos) << all;
  EXPECT_NE(all.find("alerts.max_history_samples"), std::string::npos) << all;
}

TEST_F(alert_rules_config, builtins_can_be_disabled_and_rethresholded_by_name) {
  auto r = load(R"(alerts:
  runbook_base_url: https://runbooks.example/vitals/
  builtin:
    ProbeDown: false
    DiskSpaceLow: {threshold: 0.1, for: 10m, severity: high}
)");
  ASSERT_TRUE(r.cfg) << errors(r);
  EXPECT_EQ(find(r, "ProbeDown"), nullptr);
  const auto* disk = find(r, "DiskSpaceLow");
  ASSERT_NE(disk, nullptr);
  EXPECT_EQ(disk->when->text(), "last_over_time(vitals_disk_free_ratio[1m]) < 0.1");
  EXPECT_EQ(disk->for_, std::chrono::minutes(10));
  EXPECT_EQ(disk->severity, "high");
  EXPECT_EQ(disk->runbook_url, "https://runbooks.example/vitals/DiskSpaceLow.md");
}

TEST_F(alert_rules_config, builtin_thresholds_are_written_in_the_unit_of_their_series) {
  auto r = load(R"(alerts:
  builtin:
    ProcessRSSHigh: {threshold: 200MiB}
    ProcessMemoryLeak: {threshold: 1MiB/s}
    PostgresIdleInTransaction: {threshold: 10m}
    SQLiteLocked: {threshold: 1.5s}
    DiskSpaceLow: {threshold: 10%}
    RedisMemoryHigh: {threshold: 0.75}
    PostgresLongQuery: {threshold: 90}
)");
  ASSERT_TRUE(r.cfg) << errors(r);
  EXPECT_EQ(find(r, "ProcessRSSHigh")->when->text(), "last_over_time(vitals_process_rss_bytes[1m]) > 209715200");
  EXPECT_EQ(find(r, "ProcessMemoryLeak")->when->text(), "last_over_time(vitals_process_rss_growth_bytes_per_second[1m]) > 1048576");
  EXPECT_EQ(find(r, "PostgresIdleInTransaction")->when->text(),
            "last_over_time(vitals_postgres_idle_in_transaction_max_seconds[1m]) > 600");
  EXPECT_EQ(find(r, "SQLiteLocked")->when->text(), "last_over_time(vitals_sqlite_lock_held_seconds[1m]) > 1.5");
  EXPECT_EQ(find(r, "DiskSpaceLow")->when->text(), "last_over_time(vitals_disk_free_ratio[1m]) < 0.1");
  EXPECT_EQ(find(r, "RedisMemoryHigh")->when->text(), "last_over_time(vitals_redis_memory_utilization_ratio[1m]) > 0.75");
  EXPECT_EQ(find(r, "PostgresLongQuery")->when->text(), "last_over_time(vitals_postgres_longest_query_seconds[1m]) > 90");
}

TEST_F(alert_rules_config, a_threshold_in_the_wrong_unit_says_which_unit_it_takes) {
  auto r = load(R"(alerts:
  builtin:
    ProcessRSSHigh: {threshold: 10m}
    DiskSpaceLow: {threshold: 20}
    SQLiteLocked: {threshold: 2GiB}
)");
  ASSERT_FALSE(r.cfg);
  const auto all = errors(r);
  EXPECT_NE(all.find("alerts.builtin.ProcessRSSHigh.threshold: expected a size like \"200MiB\" (or bytes), got \"10m\""),
            std::string::npos) << all;
  EXPECT_NE(all.find("alerts.builtin.DiskSpaceLow.threshold: a share is between 0 and 1 (or 0% and 100%), got \"20\""),
            std::string::npos) << all;
  EXPECT_NE(all.find("alerts.builtin.SQLiteLocked.threshold: expected a duration like \"10m\" (or seconds)"),
            std::string::npos) << all;
}

TEST_F(alert_rules_config, defaults_false_keeps_only_the_users_rules) {
  auto r = load(R"(alerts:
  defaults: false
  rules:
    - name: CacheFull
      when: vitals_redis_memory_utilization_ratio{probe="cache"} > 0.95
      for: 1m
      keep_firing_for: 5m
      severity: critical
      labels: {team: platform}
      summary: "{{ $labels.probe }} at {{ $value | humanizePercentage }}"
      runbook_url: https://wiki.example/redis
)");
  ASSERT_TRUE(r.cfg) << errors(r);
  ASSERT_EQ(r.cfg->alert_rules.size(), 1u);
  const auto& rule = r.cfg->alert_rules[0];
  EXPECT_EQ(rule.name, "CacheFull");
  EXPECT_EQ(rule.keep_firing_for, std::chrono::minutes(5));
  EXPECT_EQ(rule.labels.at("team"), "platform");
  EXPECT_FALSE(rule.builtin);
}

TEST_F(alert_rules_config, expression_errors_point_into_the_expression) {
  auto r = load(R"(alerts:
  rules:
    - name: Broken
      when: 'vitals_probe_up{probe="x" > 1'
)");
  ASSERT_FALSE(r.cfg);
  ASSERT_EQ(r.errors.size(), 1u) << errors(r);
  EXPECT_EQ(r.errors[0].str(), "vitals.yaml:5:40: alerts.rules[0].when: expected \",\" or \"}\", got \">\"");
}

TEST_F(alert_rules_config, unknown_metrics_are_errors_with_a_suggestion) {
  auto r = load(R"(alerts:
  rules:
    - name: Typo
      when: vitals_redis_used_memory_byte > 1e9
)");
  ASSERT_FALSE(r.cfg);
  EXPECT_EQ(errors(r), "vitals.yaml:5:13: alerts.rules[0].when: unknown metric vitals_redis_used_memory_byte; did you "
                       "mean vitals_redis_used_memory_bytes?\n");
}

TEST_F(alert_rules_config, names_must_be_unique_builtins_and_keys_known) {
  auto r = load(R"(alerts:
  builtin:
    RedisEviction: false
  rules:
    - name: ProbeDown
      when: vitals_probe_up == 0
    - name: Mine
      when: vitals_probe_up == 0
      severity: urgent
    - name: Mine2
      whenn: vitals_probe_up == 0
    - name: Mine3
      when: vitals_probe_up == 0
      summary: "{{ $value | printf \"%.1f\" }}"
)");
  ASSERT_FALSE(r.cfg);
  const auto all = errors(r);
  EXPECT_NE(all.find("no built-in rule named \"RedisEviction\"; did you mean RedisEvicting?"), std::string::npos) << all;
  EXPECT_NE(all.find("rule \"ProbeDown\" is defined twice (a built-in has that name"), std::string::npos) << all;
  EXPECT_NE(all.find("alerts.rules[1].severity"), std::string::npos) << all;
  EXPECT_NE(all.find("alerts.rules[2].when: missing required key"), std::string::npos) << all;
  EXPECT_NE(all.find("alerts.rules[3].summary: {{ $value | printf"), std::string::npos) << all;
}

TEST_F(alert_rules_config, every_builtin_names_only_metrics_that_exist) {
  const auto known = alerts::known_metric_names(registry);
  for (const auto& rule : alerts::builtin_rules(registry)) {
    std::set<std::string> names;
    rule.when->metric_names(names);
    for (const auto& n : names) EXPECT_TRUE(known.contains(n)) << rule.name << " uses " << n;
  }
}

TEST_F(alert_rules_config, the_rule_file_carries_every_rule) {
  auto r = load("");
  ASSERT_TRUE(r.cfg);
  const auto text = alerts::prometheus_rule_file(r.cfg->alert_rules);
  for (const auto& rule : r.cfg->alert_rules) EXPECT_NE(text.find("alert: " + rule.name + "\n"), std::string::npos);
  EXPECT_NE(text.find("expr: \"last_over_time(vitals_sqlite_lock_held_seconds[1m]) > 0\"\n        for: 30s"), std::string::npos) << text;
}

// A probe kind the daemon has never heard of: its series and its rule come
// with it, through the registry alone.
struct gauge_kind {
  static constexpr std::string_view type = "gauge";
  static probe_builder create(const probe_settings&, node_reader&) { return {}; }
  static std::span<const metric_info> metrics() {
    static constexpr metric_info infos[] = {{"vitals_gauge_level", "A level", metric_kind::gauge}};
    return infos;
  }
  static std::span<const builtin_alert> alerts() {
    static constexpr builtin_alert rules[] = {{"GaugeHigh", "vitals_gauge_level > {}", 0.5, std::chrono::minutes(1),
                                               "low", "{{ $labels.probe }} is high", "The level is high."}};
    return rules;
  }
};

TEST(alert_rules_of_a_new_kind, come_from_the_registry_and_can_be_tuned_by_name) {
  probe_registry registry;
  registry.add<gauge_kind>();
  const auto builtins = alerts::builtin_rules(registry, "https://wiki/");
  ASSERT_EQ(builtins.size(), 2u);  // ProbeDown, then the kind's
  EXPECT_EQ(builtins[1].name, "GaugeHigh");
  EXPECT_EQ(builtins[1].when->text(), "vitals_gauge_level > 0.5");
  EXPECT_EQ(builtins[1].runbook_url, "https://wiki/GaugeHigh.md");

  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  auto r = load_config_text("alerts:\n  builtin: {GaugeHigh: {threshold: 0.7}}\n  rules:\n"
                            "    - {name: Mine, when: vitals_gauge_level < 0.1}\n",
                            "vitals.yaml", registry, ctx);
  pool.join();
  ASSERT_NE(r.cfg, nullptr) << (r.errors.empty() ? "" : r.errors.front().str());
  ASSERT_EQ(r.cfg->alert_rules.size(), 3u);
  EXPECT_EQ(r.cfg->alert_rules[1].when->text(), "vitals_gauge_level > 0.7");
  EXPECT_EQ(r.cfg->alert_rules[2].name, "Mine");
}

}  // namespace
}  // namespace vitals
