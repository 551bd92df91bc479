#include "daemon/app/logging.hpp"

#include "probes/core/valid_text.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

using namespace vitals;

TEST(logging, json_format_writes_one_parseable_object_per_line_with_escaping) {
  ASSERT_TRUE(setup_logging({.level = "info", .format = "json"}));
  testing::internal::CaptureStderr();
  spdlog::warn("port \"3001\" owned by a\\b\nnext");
  spdlog::default_logger()->flush();
  const auto text = testing::internal::GetCapturedStderr();
  setup_logging({});
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.find('\n'), text.size() - 1) << text;  // the newline in the message stays escaped
  const auto v = boost::json::parse(text);
  EXPECT_EQ(v.at("level").as_string(), "warning");
  EXPECT_EQ(v.at("msg").as_string(), "port \"3001\" owned by a\\b\nnext");
  EXPECT_TRUE(v.as_object().contains("time"));
}

// What a log line looks like when a message quotes a target's bytes.
std::string logged_line(const char* format, std::string_view message) {
  testing::internal::CaptureStderr();  // first: the colour sink asks whether stderr is a terminal when made
  EXPECT_TRUE(setup_logging({.level = "info", .format = format}));
  spdlog::warn("probe web is down: {}", message);
  spdlog::default_logger()->flush();
  const auto text = testing::internal::GetCapturedStderr();
  setup_logging({});
  return text;
}

TEST(logging, json_format_replaces_ill_formed_bytes_so_the_line_still_parses) {
  const auto text = logged_line("json", "owned by \xff, body \xE2\x82");
  ASSERT_TRUE(is_valid_utf8(text)) << text;
  boost::system::error_code ec;
  const auto v = boost::json::parse(text, ec);
  ASSERT_FALSE(ec) << ec.message() << ": " << text;
  EXPECT_EQ(v.at("msg").as_string(), valid_utf8("probe web is down: owned by \xff, body \xE2\x82"));
}

TEST(logging, text_format_writes_one_valid_line_whatever_bytes_the_message_holds) {
  const auto text = logged_line("text", "\xff\nERROR forged \x1b[31mred\x1b[0m \xED\xA0\x80");
  EXPECT_TRUE(is_valid_utf8(text)) << text;
  ASSERT_EQ(text.find('\n'), text.size() - 1) << text;  // a newline from a target cannot start a line
  EXPECT_EQ(text.find('\x1b'), std::string::npos);       // nor a terminal escape colour the log
  EXPECT_NE(text.find("probe web is down: \xEF\xBF\xBD\\nERROR forged \\x1b[31mred"), std::string::npos) << text;
}

TEST(logging, level_filters_lower_messages) {
  ASSERT_TRUE(setup_logging({.level = "error", .format = "text"}));
  testing::internal::CaptureStderr();
  spdlog::info("not shown");
  spdlog::error("shown");
  const auto text = testing::internal::GetCapturedStderr();
  setup_logging({});
  EXPECT_EQ(text.find("not shown"), std::string::npos);
  EXPECT_NE(text.find("shown"), std::string::npos);
}

TEST(logging, unknown_format_is_refused) {
  EXPECT_FALSE(setup_logging({.level = "info", .format = "xml"}));
  EXPECT_FALSE(setup_logging({.level = "loud", .format = "text"}));
}
