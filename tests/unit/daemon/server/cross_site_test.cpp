// POST /-/reload refuses what a web page of another site could make a
// browser send: a form-like request, a foreign Origin, a Host that does not
// name this server (DNS rebinding). Curl with a custom header gets through.

#include "daemon/server/routes.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace vitals {
namespace {

using header_list = std::vector<std::pair<std::string, std::string>>;

listen_hosts on(const char* address, std::uint16_t port, std::vector<std::string> allowed = {}) {
  return {{asio::ip::make_address(address), port}, std::move(allowed)};
}

http_request post(header_list headers) { return {"POST", "/-/reload", "", std::move(headers)}; }

// What curl sends with -H 'X-Requested-With: curl', to `host`.
http_request from_curl(const std::string& host) { return post({{"Host", host}, {"X-Requested-With", "curl"}}); }

std::optional<std::string> refusal(const http_request& req, const listen_hosts& hosts) {
  return cross_site_refusal(req, hosts, "web-1");
}

TEST(cross_site, curl_with_a_custom_header_to_the_listen_address_is_let_through) {
  EXPECT_EQ(refusal(from_curl("127.0.0.1:9273"), on("127.0.0.1", 9273)), std::nullopt);
  EXPECT_EQ(refusal(from_curl("192.0.2.7:9273"), on("192.0.2.7", 9273)), std::nullopt);
  EXPECT_EQ(refusal(from_curl("[2001:db8::7]:9273"), on("2001:db8::7", 9273)), std::nullopt);
}

TEST(cross_site, a_json_content_type_counts_as_the_custom_header) {
  EXPECT_EQ(refusal(post({{"Host", "localhost:9273"}, {"Content-Type", "Application/JSON; charset=utf-8"}}),
                    on("127.0.0.1", 9273)),
            std::nullopt);
}

TEST(cross_site, a_plain_post_is_refused_with_the_header_to_add_in_one_line) {
  const auto why = refusal(post({{"Host", "127.0.0.1:9273"}}), on("127.0.0.1", 9273));
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("curl -X POST -H 'X-Requested-With: vitalsd' 127.0.0.1:9273/-/reload"), std::string::npos)
      << *why;
  EXPECT_EQ(why->find('\n'), std::string::npos);
}

TEST(cross_site, form_content_types_are_refused) {
  for (const char* type : {"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain",
                           "application/jsonx"})
    EXPECT_TRUE(refusal(post({{"Host", "127.0.0.1:9273"}, {"Content-Type", type}}), on("127.0.0.1", 9273))) << type;
}

TEST(cross_site, a_foreign_origin_is_refused_even_with_the_custom_header) {
  auto req = from_curl("127.0.0.1:9273");
  req.headers.emplace_back("Origin", "http://evil.example");
  const auto why = refusal(req, on("127.0.0.1", 9273));
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("Origin \"http://evil.example\" is another site"), std::string::npos) << *why;
}

TEST(cross_site, an_origin_on_another_port_of_the_same_host_is_another_site) {
  auto req = from_curl("localhost:9273");
  req.headers.emplace_back("Origin", "http://localhost:8080");
  EXPECT_TRUE(refusal(req, on("127.0.0.1", 9273)));
}

TEST(cross_site, the_servers_own_origin_is_let_through) {
  auto req = from_curl("localhost:9273");
  req.headers.emplace_back("Origin", "http://LOCALHOST:9273");
  EXPECT_EQ(refusal(req, on("127.0.0.1", 9273)), std::nullopt);
}

TEST(cross_site, a_null_or_non_web_origin_is_refused) {
  for (const char* origin : {"null", "file://", "chrome-extension://abc", "http://", "garbage"}) {
    auto req = from_curl("127.0.0.1:9273");
    req.headers.emplace_back("Origin", origin);
    EXPECT_TRUE(refusal(req, on("127.0.0.1", 9273))) << origin;
  }
}

TEST(cross_site, a_browser_saying_cross_site_is_refused) {
  auto req = from_curl("127.0.0.1:9273");
  req.headers.emplace_back("Sec-Fetch-Site", "cross-site");
  EXPECT_TRUE(refusal(req, on("127.0.0.1", 9273)));
}

TEST(cross_site, a_rebound_name_is_refused_on_a_loopback_listener) {
  const auto why = refusal(from_curl("evil.example:9273"), on("127.0.0.1", 9273));
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("Host \"evil.example:9273\" does not name this server"), std::string::npos) << *why;
  EXPECT_NE(why->find("server.allowed_hosts"), std::string::npos) << *why;
}

TEST(cross_site, loopback_names_need_the_listen_port) {
  const auto hosts = on("127.0.0.1", 9273);
  for (const char* host : {"localhost:9273", "127.0.0.1:9273", "[::1]:9273"})
    EXPECT_EQ(refusal(from_curl(host), hosts), std::nullopt) << host;
  for (const char* host : {"localhost:8080", "localhost", "127.0.0.1", "::1:9273", "[127.0.0.1]:9273", ":9273", "",
                           "localhost:0", "localhost:99999", "localhost:92x3"})
    EXPECT_TRUE(refusal(from_curl(host), hosts)) << host;
}

TEST(cross_site, a_host_without_a_port_names_a_server_on_the_default_port) {
  EXPECT_EQ(refusal(from_curl("localhost"), on("127.0.0.1", 80)), std::nullopt);
  EXPECT_EQ(refusal(from_curl("localhost"), on("127.0.0.1", 443)), std::nullopt);
}

TEST(cross_site, another_address_is_refused_on_a_specific_listener) {
  EXPECT_TRUE(refusal(from_curl("192.0.2.8:9273"), on("192.0.2.7", 9273)));
  EXPECT_TRUE(refusal(from_curl("web-1:9273"), on("192.0.2.7", 9273)));  // the host name only on a wildcard
}

TEST(cross_site, a_wildcard_listener_accepts_any_address_and_its_host_name_but_no_other_name) {
  for (const char* wildcard : {"0.0.0.0", "::"}) {
    const auto hosts = on(wildcard, 9273);
    for (const char* host : {"192.0.2.8:9273", "[2001:db8::8]:9273", "web-1:9273", "WEB-1:9273", "localhost:9273"})
      EXPECT_EQ(refusal(from_curl(host), hosts), std::nullopt) << wildcard << " " << host;
    for (const char* host : {"evil.example:9273", "192.0.2.8:8080", "web-1"})
      EXPECT_TRUE(refusal(from_curl(host), hosts)) << wildcard << " " << host;
  }
}

TEST(cross_site, allowed_hosts_add_names_with_the_listen_port_none_or_their_own) {
  const auto hosts = on("127.0.0.1", 9273, {"vitals.example", "proxy.example:8443"});
  for (const char* host : {"vitals.example", "vitals.example:9273", "Proxy.Example:8443"})
    EXPECT_EQ(refusal(from_curl(host), hosts), std::nullopt) << host;
  for (const char* host : {"vitals.example:8080", "proxy.example", "proxy.example:9273", "other.example"})
    EXPECT_TRUE(refusal(from_curl(host), hosts)) << host;
}

TEST(cross_site, an_allowed_hosts_origin_behind_a_tls_proxy_matches_its_host) {
  auto req = from_curl("vitals.example");
  req.headers.emplace_back("Origin", "https://vitals.example");
  EXPECT_EQ(refusal(req, on("127.0.0.1", 9273, {"vitals.example"})), std::nullopt);
}

TEST(cross_site, no_host_header_is_refused) {
  EXPECT_TRUE(refusal(post({{"X-Requested-With", "curl"}}), on("127.0.0.1", 9273)));
}

TEST(cross_site, a_hostile_host_is_quoted_printably) {
  const auto why = refusal(from_curl("evil\x1b[31m.example"), on("127.0.0.1", 9273));
  ASSERT_TRUE(why);
  EXPECT_EQ(why->find('\x1b'), std::string::npos) << *why;
}

}  // namespace
}  // namespace vitals
