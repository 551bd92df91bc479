// `vitalsd incidents` over a real state file in a temp dir.

#include "daemon/cli/incidents_command.hpp"

#include "daemon/state/state_store.hpp"
#include "probes/core/valid_text.hpp"

#include "support/temp_env.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

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

// A state file with `resolved` incidents resolved `ago`, oldest first, then
// one that still fires.
std::string state_with_history(const test::temp_dir& dir, std::size_t resolved, std::chrono::hours ago) {
  const auto path = dir.path() + "/history.db";
  const auto now = alerts::wall_clock::now();
  std::vector<incident> list;
  for (std::size_t n = 1; n <= resolved + 1; ++n) {
    incident i;
    i.id = static_cast<std::int64_t>(n);
    i.alertname = "ProbeDown";
    i.severity = "high";
    i.labels = {{"probe", "api-" + std::to_string(n)}};
    i.started = now - ago - std::chrono::minutes(5);
    if (n <= resolved) i.resolved = now - ago;
    list.push_back(i);
  }
  state_store store(path);
  EXPECT_TRUE(store.save({}, list)) << store.problem();
  return path;
}

std::vector<std::int64_t> json_ids(const std::string& text) {
  const auto document = boost::json::parse(text);
  std::vector<std::int64_t> ids;
  for (const auto& i : document.at("incidents").as_array()) ids.push_back(i.at("id").as_int64());
  return ids;
}

TEST(incidents_command, json_without_since_prints_every_kept_incident_as_the_api_does) {
  test::temp_dir dir;
  const auto path = state_with_history(dir, 1, std::chrono::hours(24 * 3));
  const auto text = run_and_capture({.config_path = "", .state_path = path, .json = true});
  EXPECT_EQ(json_ids(text), (std::vector<std::int64_t>{1, 2})) << text;
}

TEST(incidents_command, text_without_since_shows_the_last_24_hours) {
  test::temp_dir dir;
  const auto path = state_with_history(dir, 1, std::chrono::hours(72));
  const auto text = run_and_capture({.config_path = "", .state_path = path});
  EXPECT_EQ(text.find("#1 "), std::string::npos) << text;
  EXPECT_NE(text.find("#2 "), std::string::npos) << text;
}

TEST(incidents_command, json_with_since_keeps_open_incidents_and_those_resolved_within_it) {
  test::temp_dir dir;
  const auto path = state_with_history(dir, 1, std::chrono::hours(72));
  const auto text =
      run_and_capture({.config_path = "", .state_path = path, .since = std::chrono::hours(24), .json = true});
  EXPECT_EQ(json_ids(text), (std::vector<std::int64_t>{2})) << text;
}

TEST(incidents_command, json_without_limit_prints_the_newest_1000_as_the_api_does) {
  test::temp_dir dir;
  const auto path = state_with_history(dir, incidents_json_limit, std::chrono::hours(1));
  const auto ids = json_ids(run_and_capture({.config_path = "", .state_path = path, .json = true}));
  ASSERT_EQ(ids.size(), incidents_json_limit);
  EXPECT_EQ(ids.front(), 2);  // the oldest of 1001 is left out; the open one counts
  EXPECT_EQ(ids.back(), static_cast<std::int64_t>(incidents_json_limit) + 1);
}

}  // namespace
}  // namespace vitals
