#include "daemon/server/web_config.hpp"
#include "daemon/server/web_security.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <crypt.h>

#include <array>
#include <memory>
#include <string>

namespace vitals {
namespace {

using ::testing::HasSubstr;

std::string errors_of(const web_config_result& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

web_config parsed(const std::string& text) {
  auto r = parse_web_config(text, "web.yml", "/etc/vitals");
  EXPECT_TRUE(r.config) << errors_of(r);
  return r.config.value_or(web_config{});
}

std::string error_for(const std::string& text) {
  auto r = parse_web_config(text, "web.yml", "/etc/vitals");
  EXPECT_FALSE(r.config);
  return errors_of(r);
}

// A bcrypt hash at the cheapest cost, made the way htpasswd -B would.
std::string bcrypt(const std::string& password) {
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> salt{};
  EXPECT_NE(crypt_gensalt_rn("$2y$", 4, nullptr, 0, salt.data(), salt.size()), nullptr);
  crypt_data data{};
  return crypt_r(password.c_str(), salt.data(), &data);
}

std::string basic(const std::string& user_colon_password) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "Basic ";
  std::size_t i = 0;
  const auto& s = user_colon_password;
  for (; i + 2 < s.size(); i += 3) {
    const unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
    for (int k = 18; k >= 0; k -= 6) out += table[(v >> k) & 63];
  }
  if (i + 1 == s.size()) {
    const unsigned v = (unsigned char)s[i] << 16;
    out += std::string{table[v >> 18], table[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == s.size()) {
    const unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
    out += std::string{table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], '='};
  }
  return out;
}

TEST(web_config, reads_a_node_exporter_file_unchanged) {
  const auto c = parsed(R"(
tls_server_config:
  cert_file: server.crt
  key_file: /etc/keys/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  client_allowed_sans: [prometheus.example]
  min_version: TLS13
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: true
  headers:
    X-Frame-Options: sameorigin
    Strict-Transport-Security: max-age=31536000
    X-XSS-Protection: ""
basic_auth_users:
  prometheus: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG
rate_limit:
  interval: 100ms
  burst: 5
)");
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->cert_file, "/etc/vitals/server.crt");  // relative to the web config's directory
  EXPECT_EQ(c.tls->key_file, "/etc/keys/server.key");
  EXPECT_EQ(c.tls->client_ca_file, "/etc/vitals/ca.crt");
  EXPECT_EQ(c.tls->client_auth_type, client_auth::require_and_verify);
  EXPECT_EQ(c.tls->client_allowed_sans, std::vector<std::string>{"prometheus.example"});
  EXPECT_EQ(c.tls->min_version, 0x0304);
  EXPECT_EQ(c.tls->cipher_list, "ECDHE-RSA-AES128-GCM-SHA256");  // TLS 1.3 suites are not configurable
  EXPECT_EQ(c.tls->groups_list, "X25519:P-256");
  EXPECT_FALSE(c.tls->prefer_server_cipher_suites);
  EXPECT_EQ(c.headers.at("X-Frame-Options"), "sameorigin");
  EXPECT_EQ(c.headers.count("X-XSS-Protection"), 0U) << "a blank header is unset";
  EXPECT_EQ(c.basic_auth_users.size(), 1U);
  EXPECT_EQ(c.rate_interval, std::chrono::milliseconds(100));
  EXPECT_EQ(c.rate_burst, 5);
}

TEST(web_config, an_empty_tls_section_means_plain_http) {
  EXPECT_FALSE(parsed("tls_server_config: {}\n").tls);
  EXPECT_FALSE(parsed("").tls);
}

TEST(web_config, unknown_keys_are_errors_at_their_position_with_a_suggestion) {
  const auto e = error_for("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_fil: c\n");
  EXPECT_THAT(e, HasSubstr("web.yml:4:3:"));
  EXPECT_THAT(e, HasSubstr("client_ca_file"));
}

TEST(web_config, refuses_what_exporter_toolkit_refuses) {
  EXPECT_THAT(error_for("tls_server_config: {cert_file: a}\n"), HasSubstr("missing one of key or key_file"));
  EXPECT_THAT(error_for("tls_server_config: {key_file: a}\n"), HasSubstr("missing one of cert or cert_file"));
  EXPECT_THAT(error_for("tls_server_config: {cert_file: a, key_file: b, client_ca_file: c}\n"),
              HasSubstr("client_auth_type"));
  EXPECT_THAT(error_for("tls_server_config: {cert_file: a, key_file: b, client_auth_type: Sometimes}\n"),
              HasSubstr("RequireAndVerifyClientCert"));
  EXPECT_THAT(error_for("tls_server_config: {cert_file: a, key_file: b, cipher_suites: [RC4_OR_SO]}\n"),
              HasSubstr("unknown name \"RC4_OR_SO\""));
  EXPECT_THAT(error_for("tls_server_config: {cert_file: a, key_file: b, curve_preferences: [P256]}\n"),
              HasSubstr("CurveP256"));
  EXPECT_THAT(error_for("tls_server_config: {cert_file: a, key_file: b, min_version: TLS14}\n"),
              HasSubstr("min_version"));
  EXPECT_THAT(error_for("tls_server_config: {cert_file: a, key_file: b, min_version: TLS13, max_version: TLS12}\n"),
              HasSubstr("above max_version"));
  EXPECT_THAT(error_for("http_server_config: {headers: {Server: me}}\n"), HasSubstr("can not be configured"));
  EXPECT_THAT(error_for("http_server_config: {headers: {X-Frame-Options: allow}}\n"), HasSubstr("deny or sameorigin"));
  EXPECT_THAT(error_for("basic_auth_users: {alice: hunter2}\n"), HasSubstr("expected a bcrypt hash"));
  EXPECT_THAT(error_for("tls_server_config: [a]\n"), HasSubstr("web.yml:1:"));
}

TEST(web_config, a_file_that_cannot_be_read_says_why) {
  const auto r = load_web_config("/nonexistent/web.yml");
  EXPECT_THAT(errors_of(r), HasSubstr("cannot read web config file"));
}

TEST(basic_auth, lets_in_only_the_right_password) {
  const basic_auth auth({{"alice", bcrypt("correct horse")}});
  EXPECT_EQ(auth.verify(basic("alice:correct horse")), auth_verdict::allowed);
  EXPECT_EQ(auth.verify(basic("alice:wrong")), auth_verdict::wrong);
  EXPECT_EQ(auth.verify(basic("mallory:correct horse")), auth_verdict::wrong);
  EXPECT_EQ(auth.verify(basic("alice")), auth_verdict::wrong) << "no colon";
  EXPECT_EQ(auth.verify("Bearer abc"), auth_verdict::wrong);
  EXPECT_EQ(auth.quick_check(nullptr), auth_verdict::missing);
}

TEST(basic_auth, remembers_a_verified_password_but_not_a_wrong_one) {
  const basic_auth auth({{"alice", bcrypt("pw:with:colons")}});
  const auto right = basic("alice:pw:with:colons");
  EXPECT_EQ(auth.quick_check(&right), std::nullopt) << "bcrypt decides the first time";
  EXPECT_EQ(auth.verify(right), auth_verdict::allowed);
  EXPECT_EQ(auth.quick_check(&right), auth_verdict::allowed) << "then it is cached";
  const auto wrong = basic("alice:pw");
  EXPECT_EQ(auth.verify(wrong), auth_verdict::wrong);
  EXPECT_EQ(auth.quick_check(&wrong), std::nullopt) << "a wrong password is checked with bcrypt every time";
}

TEST(basic_auth, an_unknown_user_goes_through_bcrypt_like_a_known_one) {
  // Answering an unknown name at once would tell which names exist.
  const basic_auth auth({{"alice", bcrypt("pw")}});
  const auto unknown = basic("nobody:pw");
  EXPECT_EQ(auth.quick_check(&unknown), std::nullopt);
  EXPECT_EQ(auth.verify(unknown), auth_verdict::wrong);
}

TEST(web_security, default_headers_forbid_framing_sniffing_and_inline_script) {
  std::map<std::string, std::string> h(default_security_headers().begin(), default_security_headers().end());
  EXPECT_EQ(h.at("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(h.at("X-Frame-Options"), "DENY");
  EXPECT_EQ(h.at("Referrer-Policy"), "no-referrer");
  EXPECT_THAT(h.at("Content-Security-Policy"), HasSubstr("script-src 'self'"));
  EXPECT_THAT(h.at("Content-Security-Policy"), HasSubstr("frame-ancestors 'none'"));
  EXPECT_THAT(h.at("Content-Security-Policy"), ::testing::Not(HasSubstr("unsafe-inline")));
}

TEST(web_security, a_key_that_is_not_the_certificates_is_refused) {
  web_config c;
  c.tls = tls_server_settings{};
  c.tls->cert_pem = "not a certificate";
  c.tls->key_pem = "not a key";
  EXPECT_THROW(web_security{c}, std::runtime_error);
}

}  // namespace
}  // namespace vitals
