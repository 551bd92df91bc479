// Runbook links in alerts: a built-in's runbook is the daemon's own page,
// linked under the URL the daemon is reached at; a team's own base or a
// rule's own link is left alone.

#include "daemon/server/runbook_links.hpp"

#include "daemon/app/config.hpp"
#include "probes/core/probe_registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace vitals {
namespace {

namespace ip = boost::asio::ip;

ip::tcp::endpoint at(const char* address, unsigned short port) { return {ip::make_address(address), port}; }

// The rules of a config file with this `alerts:` section (none when empty).
std::vector<alerts::rule> rules_from(const std::string& alerts_section) {
  probe_registry registry;
  register_builtin_probes(registry);
  const auto loaded = load_config_text("probes: []\n" + alerts_section, "vitals.yaml", registry);
  if (!loaded.cfg) throw std::runtime_error("config rejected: " + loaded.errors.at(0).str());
  return loaded.cfg->alert_rules;
}

const alerts::rule& named(const std::vector<alerts::rule>& rules, const std::string& name) {
  const auto it = std::find_if(rules.begin(), rules.end(), [&](const auto& r) { return r.name == name; });
  if (it == rules.end()) throw std::runtime_error("no rule " + name);
  return *it;
}

TEST(daemon_link_url, is_the_bound_address_with_the_scheme_served) {
  EXPECT_EQ(daemon_link_url("", at("127.0.0.1", 9273), false, "web-1"), "http://127.0.0.1:9273/");
  EXPECT_EQ(daemon_link_url("", at("::1", 9273), true, "web-1"), "https://[::1]:9273/");
}

TEST(daemon_link_url, names_the_host_when_listening_on_every_address) {
  EXPECT_EQ(daemon_link_url("", at("0.0.0.0", 9273), false, "web-1"), "http://web-1:9273/");
  EXPECT_EQ(daemon_link_url("", at("::", 9273), true, "web-1"), "https://web-1:9273/");
}

TEST(daemon_link_url, is_the_external_url_when_one_is_set) {
  EXPECT_EQ(daemon_link_url("https://vitals.example.com/web-1/", at("127.0.0.1", 9273), false, "web-1"),
            "https://vitals.example.com/web-1/");
  EXPECT_EQ(daemon_link_url("https://vitals.example.com", at("127.0.0.1", 9273), false, "web-1"),
            "https://vitals.example.com/");
}

TEST(with_runbook_links, a_builtin_without_a_runbook_base_links_the_daemons_own_page) {
  const auto rules = with_runbook_links(rules_from(""), "http://127.0.0.1:9273/");
  EXPECT_EQ(named(rules, "ProbeDown").runbook_url, "http://127.0.0.1:9273/runbooks/ProbeDown");
  EXPECT_EQ(named(rules, "DiskSpaceLow").runbook_url, "http://127.0.0.1:9273/runbooks/DiskSpaceLow");
}

TEST(with_runbook_links, an_external_url_with_a_path_keeps_its_path) {
  const auto rules = with_runbook_links(rules_from(""), "https://ops.example/vitals/");
  EXPECT_EQ(named(rules, "ProbeDown").runbook_url, "https://ops.example/vitals/runbooks/ProbeDown");
}

TEST(with_runbook_links, a_teams_runbook_base_keeps_its_md_links) {
  const auto team = rules_from("alerts: {runbook_base_url: 'https://wiki.example/rb/'}\n");
  const auto rules = with_runbook_links(team, "http://127.0.0.1:9273/");
  EXPECT_EQ(named(rules, "ProbeDown").runbook_url, "https://wiki.example/rb/ProbeDown.md");
}

TEST(with_runbook_links, a_user_rules_own_runbook_url_is_left_as_written) {
  const auto rules = with_runbook_links(rules_from("alerts:\n rules:\n"
                                                   "  - {name: Mine, when: vitals_probe_up == 0, "
                                                   "runbook_url: /runbooks/ProbeDown}\n"
                                                   "  - {name: Bare, when: vitals_probe_up == 0}\n"),
                                        "http://127.0.0.1:9273/");
  EXPECT_EQ(named(rules, "Mine").runbook_url, "/runbooks/ProbeDown");
  EXPECT_EQ(named(rules, "Bare").runbook_url, "");
}

}  // namespace
}  // namespace vitals
