// The redis probe's YAML keys, through the real config loader and a local
// registry (the probe is not in the built-in list yet): every problem comes
// back as file:line:column with the key path, and secrets stay hidden.

#include "probes/redis/redis_address.hpp"
#include "probes/redis/redis_probe.hpp"

#include "daemon/app/config.hpp"
#include "probes/core/probe_registry.hpp"
#include "support/temp_env.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

class redis_probe_config : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  probe_registry registry;

  redis_probe_config() { registry.add<redis_probe>(); }

  load_result load(const std::string& probe_lines) {
    return load_config_text("probes:\n  - name: cache\n    type: redis\n" + probe_lines, "vitals.yaml", registry,
                            ctx);
  }

  static std::string all_errors(const load_result& r) {
    std::string all;
    for (const auto& e : r.errors) all += e.str() + "\n";
    return all;
  }
};

TEST_F(redis_probe_config, defaults_to_localhost_6379) {
  auto r = load("");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_EQ(r.cfg->probes[0].instance->target(), "127.0.0.1:6379");
}

TEST_F(redis_probe_config, every_key_is_read) {
  auto r = load("    address: \"[::1]:6380\"\n    username: vitals\n    password: pw\n    db: 2\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  const auto& p = static_cast<const redis_probe&>(*r.cfg->probes[0].instance);
  EXPECT_EQ(p.config().host, "::1");
  EXPECT_EQ(p.config().port, 6380);
  EXPECT_EQ(p.config().username, "vitals");
  EXPECT_EQ(p.config().db, 2);
  EXPECT_EQ(p.target(), "[::1]:6380 db 2");
}

TEST_F(redis_probe_config, unix_socket_address) {
  auto r = load("    address: unix:/run/redis/redis.sock\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_EQ(r.cfg->probes[0].instance->target(), "unix:/run/redis/redis.sock");
}

TEST_F(redis_probe_config, bad_address_is_reported_with_its_position) {
  auto r = load("    address: \"127.0.0.1:abc\"\n");
  EXPECT_EQ(r.cfg, nullptr);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].column, 14);
  EXPECT_EQ(r.errors[0].path, "probes[0].address");
  EXPECT_NE(r.errors[0].message.find("invalid port"), std::string::npos) << r.errors[0].str();
  EXPECT_EQ(r.errors[0].str(), "vitals.yaml:4:14: probes[0].address: \"127.0.0.1:abc\" has an invalid port (expected a number, 1-65535)");
}

TEST_F(redis_probe_config, port_out_of_range_is_reported) {
  auto r = load("    address: 127.0.0.1:70000\n");
  EXPECT_EQ(r.cfg, nullptr);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].str(),
            "vitals.yaml:4:14: probes[0].address: \"127.0.0.1:70000\" has a port out of range (1-65535)");
}

TEST_F(redis_probe_config, negative_db_is_reported) {
  auto r = load("    db: -1\n");
  EXPECT_EQ(r.cfg, nullptr);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].path, "probes[0].db");
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].column, 9);
  EXPECT_EQ(r.errors[0].str(), "vitals.yaml:4:9: probes[0].db: must be between 0 and 2147483647, got \"-1\"");
}

TEST_F(redis_probe_config, relative_unix_path_is_reported) {
  auto r = load("    address: unix:redis.sock\n");
  EXPECT_EQ(r.cfg, nullptr);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_NE(r.errors[0].message.find("absolute"), std::string::npos);
}

TEST_F(redis_probe_config, username_without_password_is_reported) {
  auto r = load("    username: vitals\n");
  EXPECT_EQ(r.cfg, nullptr);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].path, "probes[0].username");
}

TEST_F(redis_probe_config, misspelt_key_gets_a_hint) {
  auto r = load("    adress: 127.0.0.1:6379\n");
  EXPECT_EQ(r.cfg, nullptr);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_NE(r.errors[0].message.find("\"address\""), std::string::npos) << r.errors[0].str();
}

TEST_F(redis_probe_config, secret_address_is_redacted_in_errors) {
  test::temp_file secret("10.0.0.1:99999");
  auto r = load("    address: ${file:" + secret.path() + "}\n");
  EXPECT_EQ(r.cfg, nullptr);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(all_errors(r).find("10.0.0.1"), std::string::npos) << all_errors(r);
}

TEST_F(redis_probe_config, password_from_a_file_never_reaches_the_target) {
  test::temp_file secret("hunter2-secret\n");
  auto r = load("    password: ${file:" + secret.path() + "}\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  const auto& p = static_cast<const redis_probe&>(*r.cfg->probes[0].instance);
  EXPECT_EQ(p.config().password, "hunter2-secret");
  EXPECT_EQ(p.target().find("hunter2"), std::string::npos);
}

TEST(redis_address, shapes) {
  EXPECT_EQ(parse_redis_address("10.1.2.3").port, 6379);
  EXPECT_EQ(parse_redis_address("cache.internal:7000").host, "cache.internal");
  EXPECT_EQ(parse_redis_address("cache.internal:7000").port, 7000);
  EXPECT_EQ(parse_redis_address("::1").host, "::1");
  EXPECT_EQ(parse_redis_address("[::1]").port, 6379);
  EXPECT_FALSE(parse_redis_address("::1:6379:x").error.empty());
  EXPECT_FALSE(parse_redis_address("[::1:6379").error.empty());
  EXPECT_FALSE(parse_redis_address("host:0").error.empty());
  EXPECT_FALSE(parse_redis_address(":6379").error.empty());
  EXPECT_FALSE(parse_redis_address("bad host:6379").error.empty());
  EXPECT_FALSE(parse_redis_address("[10.0.0.1]:6379").error.empty());
  EXPECT_EQ(parse_redis_address("unix:/tmp/r.sock").unix_path, "/tmp/r.sock");
}

}  // namespace
}  // namespace vitals
