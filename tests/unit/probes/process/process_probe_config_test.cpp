#include "probes/process/process_probe.hpp"

#include "support/probe_config_fixture.hpp"

#include "probes/core/probe_registry.hpp"
#include "probes/core/probe_settings.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <memory>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;

using process_probe_config = test::probe_config_fixture<process_probe>;

TEST_F(process_probe_config, name_alone_builds_with_defaults) {
  auto* p = create(R"(
probes:
  - name: app
    type: process
    match: {name: node}
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().match.name, "node");
  EXPECT_EQ(p->config().min_count, 1);
  EXPECT_EQ(p->config().growth_window, std::chrono::steady_clock::duration(10min));
  EXPECT_EQ(p->growth_min_age(), std::chrono::steady_clock::duration(1min));
  EXPECT_FALSE(p->config().rss_limit.has_value());
  EXPECT_EQ(p->target(), "name=node");
}

TEST_F(process_probe_config, every_key_is_read) {
  auto* p = create(R"(
probes:
  - name: app
    type: process
    match:
      name: node
      cmdline: "server\\.js"
      pidfile: /run/app.pid
      user: root
    min_count: 2
    growth_window: 5m
    growth_min_age: 2m
    rss_limit: 2GiB
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().match.uid, 0u);
  EXPECT_EQ(p->config().min_count, 2);
  EXPECT_EQ(p->config().growth_window, std::chrono::steady_clock::duration(5min));
  EXPECT_EQ(p->growth_min_age(), std::chrono::steady_clock::duration(2min));
  EXPECT_EQ(p->config().rss_limit, 2ull << 30);
  EXPECT_EQ(p->target(), "name=node,cmdline=server\\.js,pidfile=/run/app.pid,user=root");
}

TEST_F(process_probe_config, a_short_growth_window_shortens_the_default_minimum_age) {
  auto* p = create(R"(
probes:
  - {name: app, type: process, match: {name: node}, growth_window: 20s}
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->growth_min_age(), std::chrono::steady_clock::duration(20s));
}

TEST_F(process_probe_config, min_count_zero_is_allowed) {
  auto* p = create(R"(
probes:
  - name: app
    type: process
    match: {name: node}
    min_count: 0
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().min_count, 0);
}

TEST_F(process_probe_config, missing_match_is_an_error) {
  EXPECT_EQ(create(R"(
probes:
  - name: app
    type: process
)"),
            nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:3:5: probes[0].match: missing required key");
}

TEST_F(process_probe_config, an_empty_match_is_an_error) {
  EXPECT_EQ(create(R"(
probes:
  - name: app
    type: process
    match: {}
)"),
            nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:5:12: probes[0].match: needs at least one of name, cmdline, pidfile, user");
}

TEST_F(process_probe_config, an_invalid_regex_is_reported_at_its_value) {
  EXPECT_EQ(create(R"(
probes:
  - name: app
    type: process
    match:
      cmdline: "server(\\.js"
)"),
            nullptr);
  EXPECT_EQ(only_error().rfind("vitals.yaml:6:16: probes[0].match.cmdline: invalid regex ", 0), 0u)
      << only_error();
}

TEST_F(process_probe_config, an_unknown_matcher_key_gets_a_hint) {
  EXPECT_EQ(create(R"(
probes:
  - name: app
    type: process
    match: {name: node, cmdlin: x}
)"),
            nullptr);
  EXPECT_NE(only_error().find("probes[0].match.cmdlin"), std::string::npos) << only_error();
  EXPECT_NE(only_error().find("cmdline"), std::string::npos) << only_error();
}

TEST_F(process_probe_config, a_name_longer_than_comm_can_hold_is_an_error) {
  EXPECT_EQ(create(R"(
probes:
  - name: app
    type: process
    match: {name: vitals_integration_tests}
)"),
            nullptr);
  EXPECT_NE(only_error().find("probes[0].match.name: \"vitals_integration_tests\" is longer than 15 bytes"),
            std::string::npos)
      << only_error();
}

TEST_F(process_probe_config, an_unknown_user_is_an_error) {
  EXPECT_EQ(create(R"(
probes:
  - name: app
    type: process
    match: {user: no-such-user-vitals}
)"),
            nullptr);
  EXPECT_NE(only_error().find("probes[0].match.user: unknown user \"no-such-user-vitals\""), std::string::npos)
      << only_error();
}

TEST_F(process_probe_config, a_numeric_user_is_a_uid) {
  auto* p = create(R"(
probes:
  - name: app
    type: process
    match: {user: "54321"}
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().match.uid, 54321u);
}

TEST_F(process_probe_config, a_relative_pidfile_is_an_error) {
  EXPECT_EQ(create(R"(
probes:
  - name: app
    type: process
    match: {pidfile: run/app.pid}
)"),
            nullptr);
  EXPECT_NE(only_error().find("probes[0].match.pidfile: \"run/app.pid\" is not an absolute path"),
            std::string::npos)
      << only_error();
}

TEST_F(process_probe_config, bad_numbers_are_reported_with_their_keys) {
  EXPECT_EQ(create(R"(
probes:
  - name: app
    type: process
    match: {name: node}
    min_count: -1
    growth_window: soon
    rss_limit: lots
)"),
            nullptr);
  ASSERT_EQ(diags.errors().size(), 3u);
  EXPECT_EQ(diags.errors()[0].path, "probes[0].min_count");
  EXPECT_EQ(diags.errors()[1].path, "probes[0].growth_window");
  EXPECT_EQ(diags.errors()[2].path, "probes[0].rss_limit");
}

TEST_F(process_probe_config, a_growth_window_under_a_second_is_an_error) {
  EXPECT_EQ(create(R"(
probes:
  - name: app
    type: process
    match: {name: node}
    growth_window: 500ms
)"),
            nullptr);
  EXPECT_NE(only_error().find("probes[0].growth_window: must be at least 1s"), std::string::npos) << only_error();
}

TEST_F(process_probe_config, registers_through_a_registry_with_every_metric) {
  probe_registry registry;
  registry.add<process_probe>();
  const auto* kind = registry.find("process");
  ASSERT_NE(kind, nullptr);
  std::vector<std::string> names;
  for (const auto& m : kind->metrics) names.emplace_back(m.name);
  for (const char* expected :
       {"vitals_process_matches", "vitals_process_rss_bytes", "vitals_process_rss_growth_bytes_per_second",
        "vitals_process_rss_limit_eta_seconds", "vitals_process_open_fds", "vitals_process_max_fds",
        "vitals_process_cpu_seconds_total"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  const auto cpu = std::find_if(kind->metrics.begin(), kind->metrics.end(),
                                [](const metric_info& m) { return m.name == "vitals_process_cpu_seconds_total"; });
  EXPECT_EQ(cpu->kind, metric_kind::counter);
}

}  // namespace
}  // namespace vitals
