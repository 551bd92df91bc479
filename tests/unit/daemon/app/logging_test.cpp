#include "daemon/app/logging.hpp"

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
