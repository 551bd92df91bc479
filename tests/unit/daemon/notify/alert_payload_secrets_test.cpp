// The last door before a receiver: no label or annotation carries a secret.

#include "daemon/notify/alert_payload.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

alerts::alert_instance alert_quoting(const std::string& secret) {
  alerts::alert_instance a;
  a.rule = "ProbeDown";
  a.label_values = {{"alertname", "ProbeDown"}, {"probe", "api"}, {"severity", "high"}, {"route", "pager-" + secret}};
  a.state = alerts::alert_state::firing;
  a.summary = "api answered " + secret;
  a.description = "\"" + secret + "\"";
  a.runbook_url = "https://wiki/" + secret;
  a.evidence = "body: {\"token\":\"" + secret + "\"}";
  return a;
}

TEST(alert_payload_secrets, every_label_and_annotation_of_both_bodies_is_redacted) {
  const std::string secret = "am-s3cr3t\"x";
  alert_sender sender{"web-1", "http://web-1:9100/", redactor({secret})};
  const std::vector<outgoing_alert> batch{{alert_quoting(secret), false, {}}};
  for (const auto& body : {alertmanager_body(batch, sender), webhook_body(batch, sender)}) {
    EXPECT_EQ(body.find("am-s3cr3t"), std::string::npos) << body;
    const auto v = boost::json::parse(body);
    const auto& alert = v.is_array() ? v.as_array()[0] : v.at("alerts").as_array()[0];
    EXPECT_EQ(alert.at("labels").at("route").as_string(), "pager-<redacted>");
    EXPECT_EQ(alert.at("annotations").at("summary").as_string(), "api answered <redacted>");
    EXPECT_EQ(alert.at("annotations").at("description").as_string(), "\"<redacted>\"");
    EXPECT_EQ(alert.at("annotations").at("runbook_url").as_string(), "https://wiki/<redacted>");
    EXPECT_EQ(alert.at("annotations").at("evidence").as_string(), "body: {\"token\":\"<redacted>\"}");
  }
}

}  // namespace
}  // namespace vitals
