// Every log line, in both formats and from any thread, has the config's
// secrets redacted.

#include "daemon/app/logging.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <string>
#include <thread>
#include <vector>

using namespace vitals;

namespace {

// The log with `secrets` set, as `format` writes `message`.
std::string logged_with(const char* format, const redactor& secrets, const std::string& message) {
  testing::internal::CaptureStderr();  // first: the colour sink asks whether stderr is a terminal when made
  EXPECT_TRUE(setup_logging({.level = "trace", .format = format}));
  set_log_secrets(secrets);
  spdlog::trace("notify: webhook {} refused a batch with status 500", message);
  spdlog::default_logger()->flush();
  const auto text = testing::internal::GetCapturedStderr();
  set_log_secrets({});
  setup_logging({});
  return text;
}

}  // namespace

TEST(logging_secrets, text_format_redacts_a_secret_inside_a_message) {
  const auto text = logged_with("text", redactor({"hook-s3cr3t"}), "http://127.0.0.1:9/hook/hook-s3cr3t");
  EXPECT_EQ(text.find("hook-s3cr3t"), std::string::npos) << text;
  EXPECT_NE(text.find("webhook http://127.0.0.1:9/hook/<redacted> refused"), std::string::npos) << text;
}

TEST(logging_secrets, json_format_redacts_before_escaping) {
  // A secret with a quote: redacted raw, not left behind in its escaped form.
  const auto text = logged_with("json", redactor({"a\"b-s3cr3t"}), "http://h/?t=a\"b-s3cr3t");
  EXPECT_EQ(text.find("s3cr3t"), std::string::npos) << text;
  const auto v = boost::json::parse(text);
  EXPECT_EQ(v.at("msg").as_string(), "notify: webhook http://h/?t=<redacted> refused a batch with status 500");
}

TEST(logging_secrets, without_secrets_a_message_is_unchanged) {
  const auto text = logged_with("text", redactor(), "http://h/hook/plain");
  EXPECT_NE(text.find("webhook http://h/hook/plain refused"), std::string::npos) << text;
}

TEST(logging_secrets, messages_from_other_threads_are_redacted_while_the_secrets_change) {
  testing::internal::CaptureStderr();
  ASSERT_TRUE(setup_logging({.level = "info", .format = "text"}));
  set_log_secrets(redactor({"pool-s3cr3t"}));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([] {
      for (int i = 0; i < 50; ++i) spdlog::info("scan saw pool-s3cr3t {}", i);
    });
  // A reload merges in more secrets while the pool logs.
  for (int i = 0; i < 50; ++i)
    set_log_secrets(redactor::merge(redactor({"pool-s3cr3t"}), redactor({"new-" + std::to_string(i)})));
  for (auto& t : threads) t.join();
  spdlog::default_logger()->flush();
  const auto text = testing::internal::GetCapturedStderr();
  set_log_secrets({});
  setup_logging({});
  EXPECT_EQ(text.find("pool-s3cr3t"), std::string::npos);
  EXPECT_NE(text.find("scan saw <redacted> 49"), std::string::npos);
}
