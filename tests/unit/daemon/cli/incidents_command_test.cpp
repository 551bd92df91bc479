// `vitalsd incidents` over a real state file in a temp dir.

#include "daemon/cli/incidents_command.hpp"

#include "daemon/state/state_store.hpp"
#include "probes/core/valid_text.hpp"

#include "support/temp_env.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

const std::string fffd = "\xEF\xBF\xBD";

// A state file holding one incident as an earlier version stored it: a
// process named \xff, raw, in its summary and evidence.
std::string state_with_raw_bytes(const test::temp_dir& dir) {
  const auto path = dir.path() + "/state.db";
  incident i;
  i.id = 7;
  i.alertname = "PortConflict";
  i.severity = "high";
  i.labels = {{"probe", "api"}};
  i.started = alerts::wall_clock::now();
  i.summary = "port 3001 is held by \xff";
  i.evidence_json = "{\"cause\":\"owned by \xff\",\"evidence\":{\"owner\":\"\xff (pid 7)\"}}";
  state_store store(path);
  EXPECT_TRUE(store.save({}, {i})) << store.problem();
  return path;
}

std::string run_and_capture(const incidents_options& options) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(run_incidents(options), 0);
  return testing::internal::GetCapturedStdout();
}

TEST(incidents_command, text_shows_evidence_stored_with_raw_bytes_as_valid_utf8) {
  test::temp_dir dir;
  const auto text = run_and_capture({.config_path = "", .state_path = state_with_raw_bytes(dir)});
  EXPECT_TRUE(is_valid_utf8(text)) << text;
  EXPECT_NE(text.find("    port 3001 is held by " + fffd + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    cause: owned by " + fffd + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    owner: " + fffd + " (pid 7)\n"), std::string::npos) << text;
}

TEST(incidents_command, json_parses_strictly_and_keeps_evidence_stored_with_raw_bytes) {
  test::temp_dir dir;
  const auto text = run_and_capture({.config_path = "", .state_path = state_with_raw_bytes(dir), .json = true});
  EXPECT_TRUE(is_valid_utf8(text));
  boost::system::error_code ec;
  const auto v = boost::json::parse(text, ec);
  ASSERT_FALSE(ec) << ec.message() << ": " << text;
  const auto& i = v.at("incidents").at(0);
  EXPECT_EQ(i.at("summary").as_string(), "port 3001 is held by " + fffd);
  EXPECT_EQ(i.at("evidence").at("evidence").at("owner").as_string(), fffd + " (pid 7)");
}

}  // namespace
}  // namespace vitals
