#include "daemon/server/status_views.hpp"

#include "probes/core/valid_text.hpp"

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
  const auto html = status_page_html({"host", std::chrono::system_clock::now(), {failed_probe()}, {}, {}, {}});
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
  const auto html = status_page_html({"host", std::chrono::system_clock::now(), {}, {firing, sneaky}, {i}, {}});
  EXPECT_NE(html.find("href=\"https://wiki.example/ProbeDown.md?a=1&amp;b=2\""), std::string::npos);
  EXPECT_EQ(html.find("href=\"javascript:"), std::string::npos);
  EXPECT_NE(html.find("owner</dt><dd>&lt;none&gt;"), std::string::npos);
  EXPECT_NE(html.find("<td data-label=\"#\">42</td>"), std::string::npos);
  EXPECT_NE(html.find("python3 (pid 7)"), std::string::npos);
}

TEST(status_views, status_page_links_a_runbook_given_as_a_path_on_the_daemon) {
  alerts::alert_instance firing;
  firing.rule = "ProbeDown";
  firing.label_values = {{"alertname", "ProbeDown"}, {"probe", "api"}, {"severity", "high"}};
  firing.state = alerts::alert_state::firing;
  firing.runbook_url = "/runbooks/ProbeDown";
  const auto html = status_page_html({"host", std::chrono::system_clock::now(), {}, {firing}, {}, {}});
  EXPECT_NE(html.find("<a class=\"runbook\" href=\"/runbooks/ProbeDown\">runbook</a>"), std::string::npos) << html;
}

// --- bytes a target chose: every view stays valid UTF-8 -------------------

const std::string fffd = "\xEF\xBF\xBD";

probe_status hostile_probe() {
  auto p = failed_probe();
  p.last->result.error = "owned by \xff (pid 7)";
  p.last->result.evidence = {{"body", "\xE2\x82 \xED\xA0\x80"}, {"x-\xff", "v"}};
  return p;
}

// boost::json::parse checks UTF-8 strictly, as Python's json.loads of the decoded bytes does.
boost::json::value parse_strictly(const std::string& text) {
  EXPECT_TRUE(is_valid_utf8(text));
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message();
  return v;
}

TEST(status_views, probes_json_is_valid_utf8_when_a_target_sent_ill_formed_bytes) {
  const auto v = parse_strictly(probes_json({hostile_probe()}));
  const auto& last = v.at("probes").at(0).at("last");
  EXPECT_EQ(last.at("error").as_string(), "owned by " + fffd + " (pid 7)");
  EXPECT_EQ(last.at("evidence").at("body").as_string(), valid_utf8("\xE2\x82 \xED\xA0\x80"));
  EXPECT_EQ(last.at("evidence").at("x-" + fffd).as_string(), "v");
}

TEST(status_views, alerts_json_is_valid_utf8_when_a_label_holds_ill_formed_bytes) {
  alerts::alert_instance a;
  a.rule = "PortConflict";
  a.label_values = {{"alertname", "PortConflict"}, {"process", "\xff"}};
  a.summary = "held by \xff";
  const auto v = parse_strictly(alerts_json({a}));
  EXPECT_EQ(v.at("alerts").at(0).at("labels").at("process").as_string(), fffd);
  EXPECT_EQ(v.at("alerts").at(0).at("summary").as_string(), "held by " + fffd);
}

TEST(status_views, status_page_is_valid_utf8_and_shows_evidence_stored_with_raw_bytes) {
  incident i;
  i.id = 7;
  i.alertname = "PortConflict";
  // As an earlier version stored it: raw bytes inside the JSON text.
  i.evidence_json = "{\"cause\":\"owned by \xff\",\"evidence\":{\"owner\":\"\xff (pid 7)\"}}";
  const auto html = status_page_html({"host", std::chrono::system_clock::now(), {hostile_probe()}, {}, {i}, {}});
  EXPECT_TRUE(is_valid_utf8(html));
  EXPECT_NE(html.find("owned by " + fffd + " (pid 7)"), std::string::npos);
  EXPECT_NE(html.find("<dt>owner</dt><dd>" + fffd + " (pid 7)</dd>"), std::string::npos) << html;
}

}  // namespace
}  // namespace vitals
