#include "probes/port/port_probe.hpp"

#include "support/probe_config_fixture.hpp"

#include "daemon/app/config.hpp"
#include "probes/core/probe_registry.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

namespace vitals {
namespace {

using port_probe_config = test::probe_config_fixture<port_probe>;

TEST_F(port_probe_config, single_port_with_defaults_builds_a_probe) {
  auto* p = create(R"(
probes:
  - name: api
    type: port
    port: 3001
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok());
  EXPECT_EQ(p->target(), "127.0.0.1:3001");
  EXPECT_TRUE(p->config().expect_open);
  EXPECT_EQ(p->config().expect_process, "");
}

TEST_F(port_probe_config, every_port_key_counts_as_known) {
  auto* p = create(R"(
probes:
  - name: api
    type: port
    host: localhost
    port: 3001
    expect: open
    expect_process: node
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok()) << only_error();  // finish() found no unknown key
  EXPECT_EQ(p->config().expect_process, "node");
  EXPECT_EQ(p->target(), "localhost:3001");
}

TEST_F(port_probe_config, ports_string_with_list_and_range_builds_a_probe) {
  auto* p = create(R"(
probes:
  - name: dev
    type: port
    ports: "3001,3005-3010"
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->target(), "127.0.0.1:3001,3005-3010");
  EXPECT_EQ(p->config().ports.size(), 7u);
}

TEST_F(port_probe_config, ports_yaml_list_builds_a_probe) {
  auto* p = create(R"(
probes:
  - name: dev
    type: port
    ports: [3003, 3001, "3005-3006"]
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->target(), "127.0.0.1:3001,3003,3005-3006");
}

TEST_F(port_probe_config, ipv6_host_in_brackets_is_accepted) {
  auto* p = create(R"(
probes:
  - name: v6
    type: port
    host: "[::1]"
    port: 3001
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->target(), "[::1]:3001");
}

TEST_F(port_probe_config, port_above_65535_is_an_error_at_the_port) {
  EXPECT_EQ(create(R"(
probes:
  - name: api
    type: port
    port: 70000
)"),
            nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:5:11: probes[0].port: 70000 is not a valid port (1-65535)");
}

TEST_F(port_probe_config, port_zero_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: port, port: 0}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].port: 0 is not a valid port (1-65535)"), std::string::npos) << only_error();
}

TEST_F(port_probe_config, non_numeric_port_is_an_error_at_the_port) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: port, port: http}\n"), nullptr);
  EXPECT_NE(only_error().find(": probes[0].port: "), std::string::npos) << only_error();
}

TEST_F(port_probe_config, reversed_range_is_an_error_at_ports) {
  EXPECT_EQ(create(R"(
probes:
  - name: dev
    type: port
    ports: "3010-3005"
)"),
            nullptr);
  EXPECT_EQ(only_error(),
            "vitals.yaml:5:12: probes[0].ports: \"3010-3005\" is not a valid range (start after end)");
}

TEST_F(port_probe_config, range_with_invalid_port_is_an_error_at_ports) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: port, ports: \"3001,65000-70000\"}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].ports: 70000 is not a valid port (1-65535)"), std::string::npos)
      << only_error();
}

TEST_F(port_probe_config, range_over_1024_ports_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: port, ports: \"1-65535\"}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].ports: \"1-65535\" covers more than 1024 ports"), std::string::npos)
      << only_error();
}

TEST_F(port_probe_config, bad_item_in_ports_list_is_an_error_at_that_item) {
  EXPECT_EQ(create(R"(
probes:
  - name: dev
    type: port
    ports:
      - 3001
      - 70000
)"),
            nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:7:9: probes[0].ports[1]: 70000 is not a valid port (1-65535)");
}

TEST_F(port_probe_config, port_and_ports_together_are_an_error) {
  EXPECT_EQ(create(R"(
probes:
  - name: dev
    type: port
    port: 3001
    ports: "3005-3010"
)"),
            nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:6:12: probes[0].ports: set either port or ports, not both");
}

TEST_F(port_probe_config, missing_port_is_an_error_at_the_probe) {
  EXPECT_EQ(create(R"(
probes:
  - name: dev
    type: port
)"),
            nullptr);
  EXPECT_NE(only_error().find(": probes[0]: one of port or ports is required"), std::string::npos)
      << only_error();
}

TEST_F(port_probe_config, unknown_expect_value_is_an_error_at_expect) {
  EXPECT_EQ(create(R"(
probes:
  - name: dev
    type: port
    port: 3001
    expect: opened
)"),
            nullptr);
  const auto e = only_error();
  EXPECT_EQ(e.rfind("vitals.yaml:6:13: probes[0].expect: ", 0), 0u) << e;
  EXPECT_NE(e.find("open|closed"), std::string::npos) << e;
}

TEST_F(port_probe_config, expect_process_with_expect_closed_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: port, port: 3001, expect: closed, expect_process: node}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].expect_process: "), std::string::npos) << only_error();
}

TEST_F(port_probe_config, expect_process_on_a_remote_address_is_an_error) {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this host.
  EXPECT_EQ(create("probes:\n  - {name: a, type: port, host: 192.0.2.1, port: 3001, expect_process: node}\n"),
            nullptr);
  EXPECT_NE(only_error().find("probes[0].expect_process: needs a host on this machine"), std::string::npos)
      << only_error();
}

TEST_F(port_probe_config, host_with_a_port_is_an_error_at_host) {
  EXPECT_EQ(create(R"(
probes:
  - name: dev
    type: port
    host: 127.0.0.1:3001
    port: 3001
)"),
            nullptr);
  const auto e = only_error();
  EXPECT_EQ(e.rfind("vitals.yaml:5:11: probes[0].host: ", 0), 0u) << e;
  EXPECT_NE(e.find("put the port in port:"), std::string::npos) << e;
}

TEST_F(port_probe_config, every_problem_is_reported_at_once) {
  EXPECT_EQ(create(R"(
probes:
  - name: dev
    type: port
    host: "bad host"
    port: 0
    expect: maybe
)"),
            nullptr);
  EXPECT_EQ(diags.errors().size(), 3u) << only_error();
}

// Through the real loader: the registry finds `type: port`, and keys the
// factory did not ask about are rejected afterwards with a hint.
TEST_F(port_probe_config, misspelt_key_is_rejected_by_the_loader_with_a_hint) {
  probe_registry registry;
  register_builtin_probes(registry);
  auto loaded = load_config_text(R"(
probes:
  - name: api
    type: port
    prot: 3001
    port: 3001
)",
                                 "vitals.yaml", registry, ctx);
  EXPECT_EQ(loaded.cfg, nullptr);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].path, "probes[0].prot");
  EXPECT_NE(loaded.errors[0].message.find("\"port\""), std::string::npos) << loaded.errors[0].str();
}

TEST_F(port_probe_config, loader_builds_a_port_probe_from_a_file) {
  probe_registry registry;
  register_builtin_probes(registry);
  auto loaded = load_config_text("probes:\n  - {name: api, type: port, ports: \"3005-3010\"}\n", "vitals.yaml",
                                 registry, ctx);
  ASSERT_NE(loaded.cfg, nullptr) << (loaded.errors.empty() ? "" : loaded.errors[0].str());
  ASSERT_EQ(loaded.cfg->probes.size(), 1u);
  EXPECT_EQ(loaded.cfg->probes[0].instance->target(), "127.0.0.1:3005-3010");
}

}  // namespace
}  // namespace vitals
