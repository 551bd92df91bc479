// server.external_url: the URL the daemon is reached at, which links in
// alerts start with; read as an absolute http(s) URL or refused with its
// position.

#include "daemon/app/config.hpp"

#include "test_probe_kind.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

using test_kinds::test_loader;

std::string all_errors(const load_result& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

TEST(config_external_url, is_empty_unless_set) {
  test_loader t;
  const auto r = t.load("probes: []\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_EQ(r.cfg->server.external_url, "");
}

TEST(config_external_url, is_read_with_a_trailing_slash) {
  test_loader t;
  const auto r = t.load("server: {external_url: \"https://ops.example/vitals\"}\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_EQ(r.cfg->server.external_url, "https://ops.example/vitals/");
}

TEST(config_external_url, that_is_not_a_web_url_is_an_error_with_its_position) {
  test_loader t;
  for (const char* bad : {"vitals.example.com", "ftp://vitals.example.com/", "https://user:pw@vitals.example.com/",
                          "https://vitals.example.com/?a=1", "https://vitals.example.com/#top", "https:///path"}) {
    const auto r = t.load("server:\n  external_url: \"" + std::string(bad) + "\"\n");
    EXPECT_EQ(r.cfg, nullptr) << bad;
    ASSERT_EQ(r.errors.size(), 1u) << bad << "\n" << all_errors(r);
    EXPECT_EQ(r.errors[0].str(), "test.yaml:2:17: server.external_url: expected the URL users reach vitalsd at, like "
                                 "\"https://vitals.example.com/\" (http or https, a host, no credentials, query or "
                                 "fragment), got \"" + std::string(bad) + "\"");
  }
}

}  // namespace
}  // namespace vitals
