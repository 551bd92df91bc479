#include "daemon/app/config.hpp"

#include "test_probe_kind.hpp"

#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace vitals {
namespace {

using test_kinds::fake_probe;
using test_kinds::test_loader;

std::vector<std::string> errors_of(const load_result& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.str());
  return out;
}

std::string all_errors(const load_result& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

// The one error of a load that must fail with exactly one.
std::string only_error(const load_result& r) {
  EXPECT_EQ(r.cfg, nullptr);
  EXPECT_EQ(r.errors.size(), 1u) << all_errors(r);
  return r.errors.empty() ? std::string() : r.errors[0].str();
}

using test::scoped_env;
using test::temp_file;

const char* const one_probe =
    "probes:\n"
    "  - name: api\n"
    "    type: fake\n"
    "    target: 127.0.0.1:3001\n";

// ---- valid files and defaults ---------------------------------------------

TEST(config, minimal_file_gets_the_documented_defaults) {
  test_loader t;
  auto r = t.load(one_probe);
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  const config& c = *r.cfg;
  EXPECT_EQ(c.file, "test.yaml");
  EXPECT_EQ(c.server.listen, "127.0.0.1:9273");
  EXPECT_FALSE(c.server.enable_lifecycle);
  EXPECT_EQ(c.server.max_connections, 64);
  EXPECT_EQ(c.server.header_timeout, 10s);
  EXPECT_EQ(c.server.max_request_bytes, 64u * 1024);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, "text");
  EXPECT_EQ(c.state.path, "/var/lib/vitals/state.db");
  ASSERT_EQ(c.probes.size(), 1u);
  const probe_settings& p = c.probes[0].settings;
  EXPECT_EQ(p.name, "api");
  EXPECT_EQ(p.type, "fake");
  EXPECT_EQ(p.interval, 15s);
  EXPECT_EQ(p.timeout, 5s);
  EXPECT_FALSE(p.unhealthy_interval.has_value());
  EXPECT_EQ(p.failure_threshold, 1);
  EXPECT_EQ(p.success_threshold, 1);
  EXPECT_EQ(p.effective_failure_window(), 1);
  ASSERT_NE(c.probes[0].instance, nullptr);
  EXPECT_EQ(c.probes[0].instance->target(), "127.0.0.1:3001");
}

TEST(config, empty_file_is_valid_and_has_no_probes) {
  test_loader t;
  auto r = t.load("");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_TRUE(r.cfg->probes.empty());
  EXPECT_EQ(r.cfg->server.listen, "127.0.0.1:9273");
}

TEST(config, every_section_is_read) {
  test_loader t;
  auto r = t.load(
      "server:\n"
      "  listen: \"[::1]:9300\"\n"
      "  enable_lifecycle: true\n"
      "  max_connections: 200\n"
      "  header_timeout: 3s\n"
      "  max_request_size: 1MiB\n"
      "log: {level: debug, format: json}\n"
      "state: {path: /tmp/state.db}\n"
      "defaults: {interval: 30s, timeout: 2s, failure_threshold: 3, success_threshold: 2, failure_window: 5,"
      " unhealthy_interval: 10s}\n"
      "probes: []\n"
      "alerts: {defaults: true}\n"
      "notify: {webhook: {url: \"http://127.0.0.1:5001/hook\"}}\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  const config& c = *r.cfg;
  EXPECT_EQ(c.server.listen, "[::1]:9300");
  EXPECT_TRUE(c.server.enable_lifecycle);
  EXPECT_EQ(c.server.max_connections, 200);
  EXPECT_EQ(c.server.header_timeout, 3s);
  EXPECT_EQ(c.server.max_request_bytes, 1u << 20);
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.format, "json");
  EXPECT_EQ(c.state.path, "/tmp/state.db");
  EXPECT_EQ(c.defaults.interval, 30s);
  EXPECT_EQ(c.defaults.timeout, 2s);
  EXPECT_EQ(c.defaults.failure_threshold, 3);
  EXPECT_EQ(c.defaults.success_threshold, 2);
  EXPECT_EQ(c.defaults.failure_window, 5);
  EXPECT_EQ(c.defaults.unhealthy_interval, 10s);
}

TEST(config, defaults_apply_to_probes_that_do_not_set_them) {
  test_loader t;
  auto r = t.load(
      "defaults: {interval: 30s, timeout: 2s, failure_threshold: 3, failure_window: 5}\n"
      "probes:\n"
      "  - name: a\n"
      "    type: noop\n"
      "  - name: b\n"
      "    type: noop\n"
      "    interval: 1m\n"
      "    failure_threshold: 4\n"
      "    success_threshold: 2\n"
      "    unhealthy_interval: 5s\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  const auto& a = r.cfg->probes[0].settings;
  EXPECT_EQ(a.interval, 30s);
  EXPECT_EQ(a.timeout, 2s);
  EXPECT_EQ(a.failure_threshold, 3);
  EXPECT_EQ(a.effective_failure_window(), 5);
  const auto& b = r.cfg->probes[1].settings;
  EXPECT_EQ(b.interval, 1min);
  EXPECT_EQ(b.timeout, 2s);
  EXPECT_EQ(b.failure_threshold, 4);
  EXPECT_EQ(b.success_threshold, 2);
  EXPECT_EQ(b.effective_failure_window(), 5);
  EXPECT_EQ(b.unhealthy_interval, 5s);
}

TEST(config, notify_is_stored_as_given_and_alert_rules_are_checked) {
  test_loader t;
  auto r = t.load(
      "alerts:\n"
      "  rules:\n"
      "    - name: X\n"
      "      when: vitals_probe_up == 0\n"
      "notify:\n"
      "  alertmanager: {url: \"http://127.0.0.1:9093\"}\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_EQ(r.cfg->alert_rules.back().name, "X");
  EXPECT_EQ(r.cfg->notifications.alertmanager_urls, std::vector<std::string>{"http://127.0.0.1:9093/"});

  auto bad = t.load("alerts:\n  rules:\n    - {name: X, when: vitals_probe_up == 0, anything: goes}\n");
  EXPECT_NE(all_errors(bad).find("alerts.rules[0].anything: unknown key"), std::string::npos) << all_errors(bad);
}

TEST(config, alerts_that_are_not_a_mapping_are_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("alerts: [a]\n")),
            "test.yaml:1:9: alerts: expected a mapping (key: value lines), got a list");
}

TEST(config, load_config_file_reads_the_file_and_names_it_in_errors) {
  temp_file file("log: {level: loud}\n");
  test_loader t;
  auto r = load_config_file(file.path(), t.registry, t.ctx);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(), file.path() + ":1:14: log.level: expected trace|debug|info|warn|error, got \"loud\"");
}

TEST(config, missing_file_is_one_error_naming_the_file_and_the_reason) {
  test_loader t;
  auto r = load_config_file("/nonexistent/vitals.yaml", t.registry, t.ctx);
  EXPECT_EQ(only_error(r), "/nonexistent/vitals.yaml: cannot read config file: No such file or directory");
}

TEST(config, directory_instead_of_a_file_is_an_error) {
  test_loader t;
  auto r = load_config_file("/tmp", t.registry, t.ctx);
  EXPECT_EQ(only_error(r), "/tmp: cannot read config file: Is a directory");
}

// ---- syntax and shape ------------------------------------------------------

TEST(config, yaml_syntax_error_is_one_error_with_its_position) {
  test_loader t;
  auto r = t.load(
      "probes:\n"
      "  - name: api: v2\n"
      "    type: fake\n");
  EXPECT_EQ(only_error(r), "test.yaml:2:14: invalid YAML: illegal map value");
}

TEST(config, an_unclosed_bracket_is_reported_where_it_opens_not_where_the_parser_gave_up) {
  test_loader t;
  // yaml-cpp gives up at the end of the file (4:1); the "[" is on line 3.
  EXPECT_EQ(only_error(t.load("probes:\n"
                              "  - name: api  # a comment with [ and \"\n"
                              "    ports: [3000, 3001\n")),
            "test.yaml:3:12: invalid YAML: this '[' is never closed (the parser gave up at line 4: end of sequence "
            "flow not found)");
  // A mapping left open with more entries below it: yaml-cpp stops at the next one.
  EXPECT_EQ(only_error(t.load("probes:\n"
                              "  - {name: a, type: fake, url: \"http://h/[x]\"\n"
                              "  - name: b\n"
                              "    type: fake\n")),
            "test.yaml:2:5: invalid YAML: this '{' is never closed (the parser gave up at line 3: illegal block "
            "entry)");
  // A quote left open inside a flow sequence is the cause, not the bracket.
  EXPECT_EQ(only_error(t.load("probes: []\nlabels: [a, \"b]\nlog: {level: info}\n")).rfind(
                "test.yaml:2:13: invalid YAML: this '\"' is never closed (", 0),
            0u);
}

TEST(config, undefined_alias_is_a_syntax_error_with_position) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("log: *nope\n")), "test.yaml:1:6: invalid YAML: the referenced anchor is not defined");
}

TEST(config, an_alias_cycle_is_an_error_at_its_anchor) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("a: &a [*a]\n")),
            "test.yaml:1:4: a[0]: an alias refers to a node that contains it (an alias cycle)");
}

TEST(config, a_billion_laughs_file_is_refused_before_anything_expands_it) {
  std::string text = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level <= 8; ++level) {
    text += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 9; ++i) text += (i ? ", *l" : "*l") + std::to_string(level - 1);
    text += "]\n";
  }
  test_loader t;
  EXPECT_NE(only_error(t.load(text)).find("expands to more than 100000 nodes"), std::string::npos);
}

TEST(config, nesting_deeper_than_the_parser_allows_is_an_error_not_a_crash) {
  test_loader t;
  EXPECT_NE(only_error(t.load("a: " + std::string(100000, '[') + "\n")).find("invalid YAML: nested too deeply"),
            std::string::npos);
}

TEST(config, a_file_larger_than_a_config_can_be_is_refused_unread) {
  temp_file big(std::string(max_config_bytes + 1, '#'));
  test_loader t;
  const auto r = load_config_file(big.path(), t.registry, t.ctx);
  EXPECT_EQ(only_error(r), big.path() + ": cannot read config file: larger than 4.0 MiB");
}

TEST(config, a_byte_that_is_not_utf8_is_an_error_at_its_position) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("log: {level: info}\nstate: {path: /tmp/\xff}\n")),
            "test.yaml:2:20: the file is not valid UTF-8 here (byte \\xff)");
}

TEST(config, tab_indentation_is_a_syntax_error_with_position) {
  test_loader t;
  auto r = t.load("log:\n\tlevel: info\n");
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].line, 2);
}

TEST(config, second_yaml_document_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("log: {level: info}\n---\nlog: {level: debug}\n")),
            "test.yaml:3:1: a config file holds one YAML document, but another one starts here");
}

TEST(config, file_of_only_comments_is_valid) {
  test_loader t;
  auto r = t.load("# nothing yet\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_TRUE(r.cfg->probes.empty());
}

TEST(config, top_level_list_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("- a\n- b\n")),
            "test.yaml:1:1: expected a mapping with sections like server, log, defaults and probes");
}

TEST(config, unknown_top_level_key_is_an_error_with_a_suggestion) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("log: {level: info}\nprobe: []\n")),
            "test.yaml:2:1: probe: unknown key; did you mean \"probes\"?");
}

TEST(config, unknown_top_level_key_without_a_close_match_lists_the_sections) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("colours: []\n")),
            "test.yaml:1:1: colours: unknown key (known: alerts, defaults, log, notify, probes, server, state)");
}

TEST(config, probes_that_are_not_a_list_are_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("probes:\n  name: api\n")),
            "test.yaml:2:3: probes: expected a list (lines starting with \"- \"), got a mapping");
}

TEST(config, probe_that_is_not_a_mapping_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("probes:\n  - api\n")),
            "test.yaml:2:5: probes[0]: expected a mapping with at least name and type");
}

// ---- server / log / state --------------------------------------------------

TEST(config, listen_port_out_of_range_is_an_error_with_position) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("server:\n  listen: 127.0.0.1:70000\n")),
            "test.yaml:2:11: server.listen: port must be a number from 0 to 65535 (0: any free port), got "
            "\"127.0.0.1:70000\"");
}

TEST(config, listen_port_zero_means_any_free_port_and_is_allowed) {
  test_loader t;
  auto r = t.load("server: {listen: \"127.0.0.1:0\"}\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_EQ(r.cfg->server.listen, "127.0.0.1:0");
}

TEST(config, listen_ipv6_without_brackets_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("server:\n  listen: \"::1:9273\"\n")),
            "test.yaml:2:11: server.listen: IPv6 addresses need brackets, like \"[::1]:9273\", got \"::1:9273\"");
}

TEST(config, listen_without_a_port_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("server:\n  listen: localhost\n")),
            "test.yaml:2:11: server.listen: expected host:port like \"127.0.0.1:9273\" or \"[::1]:9273\", got "
            "\"localhost\"");
}

TEST(config, listen_with_a_non_numeric_port_is_an_error) {
  test_loader t;
  auto r = t.load("server:\n  listen: \"[::1]:http\"\n");
  EXPECT_EQ(only_error(r), "test.yaml:2:11: server.listen: port must be a number from 0 to 65535 (0: any free "
                           "port), got \"[::1]:http\"");
}

TEST(config, max_connections_out_of_range_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("server:\n  max_connections: 0\n")),
            "test.yaml:2:20: server.max_connections: must be between 1 and 10000, got \"0\"");
}

TEST(config, bad_header_timeout_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("server:\n  header_timeout: soon\n")),
            "test.yaml:2:19: server.header_timeout: expected a duration like \"500ms\" or \"15s\", got \"soon\"");
}

TEST(config, bad_max_request_size_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("server:\n  max_request_size: huge\n")),
            "test.yaml:2:21: server.max_request_size: expected a size like \"512\", \"64KiB\" or \"10MB\", got "
            "\"huge\"");
}

TEST(config, enable_lifecycle_must_be_a_boolean) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("server:\n  enable_lifecycle: sometimes\n")),
            "test.yaml:2:21: server.enable_lifecycle: expected true or false, got \"sometimes\"");
}

TEST(config, unknown_server_key_is_an_error_with_a_suggestion) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("server:\n  listn: 127.0.0.1:1\n")),
            "test.yaml:2:3: server.listn: unknown key; did you mean \"listen\"?");
}

TEST(config, unknown_log_level_is_an_error_with_a_suggestion) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("log:\n  level: debu\n")),
            "test.yaml:2:10: log.level: expected trace|debug|info|warn|error, got \"debu\"; did you mean \"debug\"?");
}

TEST(config, unknown_log_format_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("log: {format: xml}\n")),
            "test.yaml:1:15: log.format: expected text|json, got \"xml\"");
}

TEST(config, empty_state_path_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("state:\n  path: \"\"\n")), "test.yaml:2:9: state.path: must not be empty");
}

// ---- probe common keys -----------------------------------------------------

TEST(config, unknown_probe_type_lists_known_types_and_suggests_one) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("probes:\n  - name: a\n    type: fakee\n")),
            "test.yaml:3:11: probes[0].type: unknown probe type \"fakee\" (known: fake, noop); did you mean "
            "\"fake\"?");
}

TEST(config, unknown_probe_type_does_not_report_its_keys_as_unknown) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: postgres\n    conninfo: x\n");
  EXPECT_EQ(only_error(r), "test.yaml:3:11: probes[0].type: unknown probe type \"postgres\" (known: fake, noop)");
}

TEST(config, missing_probe_name_is_reported_at_the_probe) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("probes:\n  - type: noop\n")), "test.yaml:2:5: probes[0].name: missing required key");
}

TEST(config, missing_probe_type_is_reported_at_the_probe) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("probes:\n  - name: a\n")), "test.yaml:2:5: probes[0].type: missing required key");
}

TEST(config, empty_probe_name_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("probes:\n  - name: \"\"\n    type: noop\n")),
            "test.yaml:2:11: probes[0].name: must not be empty");
}

TEST(config, probe_name_with_a_space_is_an_error) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("probes:\n  - name: my api\n    type: noop\n")),
            "test.yaml:2:11: probes[0].name: \"my api\" may contain only letters, digits and _ . : - (it becomes "
            "the probe label)");
}

TEST(config, probe_name_allows_letters_digits_and_punctuation) {
  test_loader t;
  auto r = t.load("probes:\n  - name: Api_1.db:5432-x\n    type: noop\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
}

TEST(config, duplicate_probe_name_points_at_the_second_and_names_the_first_line) {
  test_loader t;
  auto r = t.load(
      "probes:\n"
      "  - name: api\n"
      "    type: noop\n"
      "  - name: db\n"
      "    type: noop\n"
      "  - name: api\n"
      "    type: noop\n");
  EXPECT_EQ(only_error(r), "test.yaml:6:11: probes[2].name: duplicate probe name \"api\" (first used at line 2)");
}

TEST(config, timeout_not_shorter_than_interval_is_an_error_with_position) {
  test_loader t;
  auto r = t.load(
      "probes:\n"
      "  - name: a\n"
      "    type: noop\n"
      "    interval: 5s\n"
      "    timeout: 10s\n");
  EXPECT_EQ(only_error(r), "test.yaml:5:14: probes[0].timeout: 10s must be shorter than interval 5s");
}

TEST(config, timeout_equal_to_interval_is_an_error) {
  test_loader t;
  auto r = t.load("probes:\n  - {name: a, type: noop, interval: 5s, timeout: 5s}\n");
  EXPECT_EQ(only_error(r), "test.yaml:2:50: probes[0].timeout: 5s must be shorter than interval 5s");
}

TEST(config, timeout_longer_than_inherited_interval_names_the_default) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    timeout: 1m\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:14: probes[0].timeout: 1m must be shorter than interval 15s (from defaults)");
}

TEST(config, interval_shorter_than_inherited_timeout_is_reported_at_interval) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    interval: 2s\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:15: probes[0].interval: 2s must be longer than timeout 5s (from defaults)");
}

TEST(config, timeout_not_shorter_than_unhealthy_interval_is_an_error) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    timeout: 3s\n    unhealthy_interval: 3s\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:14: probes[0].timeout: 3s must be shorter than unhealthy_interval 3s");
}

TEST(config, unhealthy_interval_shorter_than_inherited_timeout_is_reported_at_it) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    unhealthy_interval: 1s\n");
  EXPECT_EQ(only_error(r),
            "test.yaml:4:25: probes[0].unhealthy_interval: 1s must be longer than timeout 5s (from defaults)");
}

TEST(config, zero_interval_is_an_error) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    interval: 0s\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:15: probes[0].interval: must be longer than 0s");
}

TEST(config, bad_probe_duration_is_an_error_with_position) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    timeout: fast\n");
  EXPECT_EQ(only_error(r),
            "test.yaml:4:14: probes[0].timeout: expected a duration like \"500ms\" or \"15s\", got \"fast\"");
}

TEST(config, failure_threshold_out_of_range_is_an_error) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    failure_threshold: 0\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:24: probes[0].failure_threshold: must be between 1 and 64, got \"0\"");
}

TEST(config, success_threshold_above_100_is_an_error) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    success_threshold: 101\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:24: probes[0].success_threshold: must be between 1 and 100, got \"101\"");
}

TEST(config, failure_window_above_64_is_an_error) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    failure_window: 65\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:21: probes[0].failure_window: must be between 1 and 64, got \"65\"");
}

TEST(config, failure_window_smaller_than_failure_threshold_is_an_error) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    failure_threshold: 3\n    failure_window: 2\n");
  EXPECT_EQ(only_error(r), "test.yaml:5:21: probes[0].failure_window: 2 must be at least failure_threshold 3");
}

TEST(config, failure_threshold_above_the_inherited_window_is_reported_at_the_threshold) {
  test_loader t;
  auto r = t.load("defaults: {failure_window: 3}\nprobes:\n  - name: a\n    type: noop\n    failure_threshold: 4\n");
  EXPECT_EQ(only_error(r),
            "test.yaml:5:24: probes[0].failure_threshold: 4 must not exceed failure_window 3 (from defaults)");
}

TEST(config, defaults_timeout_not_shorter_than_interval_is_reported_in_defaults_only) {
  test_loader t;
  auto r = t.load("defaults:\n  interval: 10s\n  timeout: 10s\nprobes:\n  - name: a\n    type: noop\n");
  EXPECT_EQ(only_error(r), "test.yaml:3:12: defaults.timeout: 10s must be shorter than interval 10s");
}

TEST(config, defaults_interval_below_the_built_in_timeout_names_it) {
  test_loader t;
  auto r = t.load("defaults:\n  interval: 3s\n");
  EXPECT_EQ(only_error(r),
            "test.yaml:2:13: defaults.interval: 3s must be longer than timeout 5s (the built-in default)");
}

TEST(config, unknown_defaults_key_is_an_error_with_a_suggestion) {
  test_loader t;
  EXPECT_EQ(only_error(t.load("defaults:\n  timout: 1s\n")),
            "test.yaml:2:3: defaults.timout: unknown key; did you mean \"timeout\"?");
}

// ---- the kind's own keys ---------------------------------------------------

TEST(config, unknown_probe_key_is_an_error_with_a_suggestion) {
  test_loader t;
  auto r = t.load(
      "probes:\n"
      "  - name: api\n"
      "    type: fake\n"
      "    target: 127.0.0.1:3001\n"
      "    tokn: x\n");
  EXPECT_EQ(only_error(r), "test.yaml:5:5: probes[0].tokn: unknown key; did you mean \"token\"?");
}

TEST(config, common_key_misspelt_in_a_probe_is_suggested) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    intervall: 5s\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:5: probes[0].intervall: unknown key; did you mean \"interval\"?");
}

TEST(config, kind_error_carries_the_position_of_its_key) {
  test_loader t;
  auto r = t.load("probes:\n  - name: api\n    type: fake\n    target: nowhere\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:13: probes[0].target: expected host:port, got \"nowhere\"");
}

TEST(config, kind_missing_key_is_reported_at_the_probe) {
  test_loader t;
  auto r = t.load("probes:\n  - name: api\n    type: fake\n");
  EXPECT_EQ(only_error(r), "test.yaml:2:5: probes[0].target: missing required key");
}

TEST(config, repeated_key_in_a_probe_is_an_error) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    interval: 30s\n    interval: 40s\n");
  EXPECT_EQ(only_error(r), "test.yaml:5:5: probes[0].interval: duplicate key (first at line 4)");
}

// ---- all errors at once ----------------------------------------------------

TEST(config, every_error_is_collected_in_file_order) {
  ::unsetenv("VITALS_TEST_UNSET");
  test_loader t;
  auto r = t.load(
      "server: {listen: \"x:99999\"}\n"
      "probes:\n"
      "  - name: a\n"
      "    type: postgress\n"
      "  - name: b\n"
      "    type: fake\n"
      "    target: ${env:VITALS_TEST_UNSET}\n"
      "    interval: 5s\n"
      "    timeout: 10s\n"
      "  - name: a\n"
      "    type: noop\n"
      "logs: {}\n");
  EXPECT_EQ(r.cfg, nullptr);
  EXPECT_EQ(errors_of(r),
            (std::vector<std::string>{
                "test.yaml:1:18: server.listen: port must be a number from 0 to 65535 (0: any free port), got "
                "\"x:99999\"",
                "test.yaml:4:11: probes[0].type: unknown probe type \"postgress\" (known: fake, noop)",
                "test.yaml:7:13: probes[1].target: environment variable VITALS_TEST_UNSET is not set (from "
                "${env:VITALS_TEST_UNSET})",
                "test.yaml:9:14: probes[1].timeout: 10s must be shorter than interval 5s",
                "test.yaml:10:11: probes[2].name: duplicate probe name \"a\" (first used at line 3)",
                "test.yaml:12:1: logs: unknown key; did you mean \"log\"?",
            }));
}

// ---- secrets ---------------------------------------------------------------

TEST(config, env_reference_reaches_the_probe) {
  scoped_env env("VITALS_TEST_TOKEN", "tok-123");
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: fake\n    target: h:1\n    token: ${env:VITALS_TEST_TOKEN}\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  auto* p = dynamic_cast<fake_probe*>(r.cfg->probes[0].instance.get());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->token(), "tok-123");
}

TEST(config, file_reference_reaches_the_probe_with_text_around_it) {
  temp_file secret("abc\n");
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: fake\n    target: h:1\n    token: \"Bearer ${file:" +
                  secret.path() + "}\"\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  auto* p = dynamic_cast<fake_probe*>(r.cfg->probes[0].instance.get());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->token(), "Bearer abc");
}

TEST(config, secrets_are_substituted_in_server_settings_too) {
  scoped_env env("VITALS_TEST_PORT", "9999");
  test_loader t;
  auto r = t.load("server: {listen: \"127.0.0.1:${env:VITALS_TEST_PORT}\"}\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_EQ(r.cfg->server.listen, "127.0.0.1:9999");
}

TEST(config, missing_env_variable_is_one_error_at_the_value) {
  ::unsetenv("VITALS_TEST_UNSET");
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: noop\n    interval: ${env:VITALS_TEST_UNSET}\n");
  EXPECT_EQ(only_error(r), "test.yaml:4:15: probes[0].interval: environment variable VITALS_TEST_UNSET is not set "
                           "(from ${env:VITALS_TEST_UNSET})");
}

TEST(config, unreadable_secret_file_is_an_error_naming_the_path) {
  test_loader t;
  auto r = t.load("probes:\n  - name: a\n    type: fake\n    target: h:1\n    token: ${file:/nonexistent/t}\n");
  EXPECT_EQ(only_error(r),
            "test.yaml:5:12: probes[0].token: cannot read secret file \"/nonexistent/t\": No such file or directory");
}

TEST(config, secret_values_never_appear_in_errors) {
  scoped_env env("VITALS_TEST_SECRET", "hunter2-very-secret");
  temp_file file("file-secret-42\n");
  test_loader t;
  auto r = t.load(
      "server: {listen: \"${env:VITALS_TEST_SECRET}\", max_connections: \"${env:VITALS_TEST_SECRET}\"}\n"
      "log: {level: \"${file:" +
      file.path() +
      "}\"}\n"
      "probes:\n"
      "  - name: \"${env:VITALS_TEST_SECRET}\"\n"
      "    type: \"${file:" +
      file.path() +
      "}\"\n"
      "  - name: b\n"
      "    type: fake\n"
      "    target: \"${env:VITALS_TEST_SECRET}\"\n"
      "    interval: \"${file:" +
      file.path() + "}\"\n");
  ASSERT_GE(r.errors.size(), 6u) << all_errors(r);
  for (const auto& e : errors_of(r)) {
    EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
    EXPECT_EQ(e.find("file-secret"), std::string::npos) << e;
  }
  EXPECT_NE(all_errors(r).find("probes[1].target: expected host:port, got <redacted>"), std::string::npos)
      << all_errors(r);
}

// ---- fingerprints ----------------------------------------------------------

std::string fingerprint_of(const std::string& yaml, std::size_t index = 0) {
  test_loader t;
  auto r = t.load(yaml);
  EXPECT_NE(r.cfg, nullptr) << all_errors(r);
  if (!r.cfg || r.cfg->probes.size() <= index) return {};
  return r.cfg->probes[index].fingerprint;
}

TEST(config, fingerprint_is_equal_for_the_same_text) {
  EXPECT_FALSE(fingerprint_of(one_probe).empty());
  EXPECT_EQ(fingerprint_of(one_probe), fingerprint_of(one_probe));
}

TEST(config, fingerprint_changes_when_a_probe_key_changes) {
  std::string changed = "probes:\n  - name: api\n    type: fake\n    target: 127.0.0.1:3002\n";
  EXPECT_NE(fingerprint_of(one_probe), fingerprint_of(changed));
}

TEST(config, fingerprint_changes_when_a_key_is_added) {
  std::string added = std::string(one_probe) + "    token: x\n";
  EXPECT_NE(fingerprint_of(one_probe), fingerprint_of(added));
}

TEST(config, fingerprint_changes_when_an_inherited_default_changes) {
  std::string slower = std::string("defaults: {interval: 30s}\n") + one_probe;
  EXPECT_NE(fingerprint_of(one_probe), fingerprint_of(slower));
}

TEST(config, fingerprint_is_the_same_when_a_default_is_written_out) {
  std::string explicit_default = std::string("defaults: {interval: 15s}\n") + one_probe;
  EXPECT_EQ(fingerprint_of(one_probe), fingerprint_of(explicit_default));
}

TEST(config, fingerprint_changes_when_a_secret_changes) {
  std::string yaml = "probes:\n  - {name: a, type: fake, target: \"h:1\", token: \"${env:VITALS_TEST_ROTATE}\"}\n";
  std::string before, after;
  {
    scoped_env env("VITALS_TEST_ROTATE", "one");
    before = fingerprint_of(yaml);
  }
  {
    scoped_env env("VITALS_TEST_ROTATE", "two");
    after = fingerprint_of(yaml);
  }
  EXPECT_NE(before, after);
}

TEST(config, fingerprint_ignores_key_order) {
  std::string reordered = "probes:\n  - type: fake\n    target: 127.0.0.1:3001\n    name: api\n";
  EXPECT_EQ(fingerprint_of(one_probe), fingerprint_of(reordered));
}

TEST(config, fingerprint_of_one_probe_ignores_changes_to_another) {
  std::string two = std::string(one_probe) + "  - name: b\n    type: noop\n";
  std::string two_changed = std::string(one_probe) + "  - name: b\n    type: noop\n    interval: 1m\n";
  EXPECT_EQ(fingerprint_of(two, 0), fingerprint_of(two_changed, 0));
  EXPECT_NE(fingerprint_of(two, 1), fingerprint_of(two_changed, 1));
}

TEST(config, validating_builds_no_probe) {
  test_loader t;
  const int before = test_kinds::fake_probe::built;
  auto r = t.validate("probes:\n  - {name: a, type: fake, target: \"h:1\"}\n  - {name: b, type: noop}\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  ASSERT_EQ(r.cfg->probes.size(), 2u);
  EXPECT_EQ(r.cfg->probes[0].settings.name, "a");
  EXPECT_EQ(r.cfg->probes[0].instance, nullptr);
  EXPECT_EQ(r.cfg->probes[1].instance, nullptr);
  EXPECT_EQ(test_kinds::fake_probe::built, before);
  // ...while its errors are the same as a full load's.
  EXPECT_EQ(errors_of(t.validate("probes:\n  - {name: a, type: fake, target: nohost}\n")),
            errors_of(t.load("probes:\n  - {name: a, type: fake, target: nohost}\n")));
}

TEST(config, a_reload_builds_only_the_probes_that_changed) {
  test_loader t;
  auto first = t.load("probes:\n  - {name: same, type: fake, target: \"h:1\"}\n"
                      "  - {name: changed, type: fake, target: \"h:2\"}\n");
  ASSERT_NE(first.cfg, nullptr) << all_errors(first);
  const int before = test_kinds::fake_probe::built;
  auto second = t.reload("probes:\n  - {name: same, type: fake, target: \"h:1\"}\n"
                         "  - {name: changed, type: fake, target: \"h:3\"}\n"
                         "  - {name: added, type: fake, target: \"h:4\"}\n",
                         *first.cfg);
  ASSERT_NE(second.cfg, nullptr) << all_errors(second);
  EXPECT_EQ(test_kinds::fake_probe::built, before + 2);  // changed and added
  EXPECT_EQ(second.cfg->probes[0].instance, first.cfg->probes[0].instance);
  EXPECT_NE(second.cfg->probes[1].instance, first.cfg->probes[1].instance);
  EXPECT_EQ(second.cfg->probes[1].instance->target(), "h:3");
}

}  // namespace
}  // namespace vitals
