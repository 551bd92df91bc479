#include "daemon/server/status_views.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace vitals;

namespace {
probe_status failed_probe() {
  probe_status p;
  p.settings.name = "api<port>";
  p.settings.type = "port";
  p.target = "127.0.0.1:3001";
  p.up = false;
  run_outcome o;
  o.result = probe_result::failure("conflict", "port 3001 owned by python3 (pid 42), expected node");
  o.result.evidence = {{"owner", "python3 (pid 42, user dev)"}, {"cmdline", "python3 -m http.server"}};
  o.duration_seconds = 0.0012;
  o.finished_at = std::chrono::system_clock::time_point{std::chrono::seconds(1700000000)};
  p.last = o;
  p.runs_failed = 3;
  return p;
}
}  // namespace

TEST(status_views, probes_json_carries_state_cause_duration_and_evidence) {
  const auto v = boost::json::parse(probes_json({failed_probe()}));
  const auto& p = v.at("probes").at(0);
  EXPECT_EQ(p.at("name").as_string(), "api<port>");
  EXPECT_EQ(p.at("state").as_string(), "down");
  EXPECT_EQ(p.at("runs").at("fail").as_int64(), 3);
  const auto& last = p.at("last");
  EXPECT_FALSE(last.at("success").as_bool());
  EXPECT_EQ(last.at("reason").as_string(), "conflict");
  EXPECT_EQ(last.at("finished_at").as_string(), "2023-11-14T22:13:20.000Z");
  EXPECT_DOUBLE_EQ(last.at("duration_seconds").as_double(), 0.0012);
  EXPECT_EQ(last.at("evidence").at("owner").as_string(), "python3 (pid 42, user dev)");
}

TEST(status_views, probe_without_a_run_has_null_last_and_unknown_state) {
  probe_status p;
  p.settings.name = "new";
  const auto v = boost::json::parse(probes_json({p}));
  EXPECT_TRUE(v.at("probes").at(0).at("last").is_null());
  EXPECT_EQ(v.at("probes").at(0).at("state").as_string(), "unknown");
}

TEST(status_views, status_page_escapes_names_and_shows_the_cause) {
  const auto html = status_page_html({"host", std::chrono::system_clock::now(), {failed_probe()}, {}, {}});
  EXPECT_NE(html.find("api&lt;port&gt;"), std::string::npos);
  EXPECT_EQ(html.find("api<port>"), std::string::npos);
  EXPECT_NE(html.find("owned by python3 (pid 42), expected node"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);  // no external assets
}

namespace vitals {
namespace {

TEST(status_views, status_page_links_runbooks_only_with_safe_schemes_and_lists_incidents) {
  alerts::alert_instance firing;
  firing.rule = "ProbeDown";
  firing.label_values = {{"alertname", "ProbeDown"}, {"probe", "api"}, {"severity", "high"}};
  firing.state = alerts::alert_state::firing;
  firing.runbook_url = "https://wiki.example/ProbeDown.md?a=1&b=2";
  firing.evidence = "cause: port 3001 closed\nowner: <none>";
  auto sneaky = firing;
  sneaky.rule = "Sneaky";
  sneaky.label_values["alertname"] = "Sneaky";
  sneaky.runbook_url = "javascript:alert(1)";
  incident i;
  i.id = 42;
  i.alertname = "ProbeDown";
  i.labels = {{"probe", "api"}};
  i.evidence_json = R"js({"cause":"port 3001 closed","evidence":{"owner":"python3 (pid 7)"}})js";
  const auto html = status_page_html({"host", std::chrono::system_clock::now(), {}, {firing, sneaky}, {i}});
  EXPECT_NE(html.find("href=\"https://wiki.example/ProbeDown.md?a=1&amp;b=2\""), std::string::npos);
  EXPECT_EQ(html.find("href=\"javascript:"), std::string::npos);
  EXPECT_NE(html.find("owner</dt><dd>&lt;none&gt;"), std::string::npos);
  EXPECT_NE(html.find("<td data-label=\"#\">42</td>"), std::string::npos);
  EXPECT_NE(html.find("python3 (pid 7)"), std::string::npos);
}

}  // namespace
}  // namespace vitals
