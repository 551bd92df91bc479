// What the HTTP and WebSocket probes report about the certificate chain a
// TLS server sends, with certificates the real `openssl` tool made for the
// test (2 days, 90 days, an intermediate that expires before its leaf),
// served by the fixture servers.

#include "probes/http/http_probe.hpp"
#include "probes/websocket/websocket_probe.hpp"

#include "fixtures/http_fixture_server.hpp"
#include "fixtures/openssl_certs.hpp"
#include "fixtures/ws_fixture_server.hpp"
#include "support/run_probe.hpp"
#include "support/temp_env.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using test::describe;
using test::evidence_value;
using test::sample_value;

constexpr const char* expiry = "vitals_tls_cert_expiry_timestamp_seconds";
constexpr const char* seconds_left = "vitals_tls_cert_expiry_seconds";

web_url url_of(const std::string& text, bool websocket) {
  std::string error;
  return *parse_web_url(text, websocket, error);
}

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class tls_expiry : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  test::temp_dir dir;

  ~tls_expiry() override { pool.join(); }

  probe_result run_http(const std::string& url, const std::string& ca_file) {
    http_probe::settings s;
    s.url = url_of(url, false);
    s.tls.ca_file = ca_file;
    s.timeout = 3s;
    http_probe p(s, ctx);
    return test::run_once(io, p);
  }

  websocket_probe::settings ws_settings(const std::string& url, const std::string& ca_file) {
    websocket_probe::settings s;
    s.url = url_of(url, true);
    s.tls.ca_file = ca_file;
    s.timeout = 3s;
    return s;
  }
};

TEST_F(tls_expiry, an_https_probe_exports_when_a_leaf_that_expires_first_runs_out) {
  const auto certs = test::make_openssl_chain(dir.path(), 2);
  test::http_fixture_server server({.tls = certs.server});
  const auto r = run_http(server.url("/health"), certs.ca_file);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(sample_value(r, expiry), test::openssl_not_after(certs.leaf_file)) << describe(r);
  const double left = *sample_value(r, seconds_left);
  EXPECT_LE(left, 2 * 86400);
  EXPECT_GT(left, 2 * 86400 - 300);  // made moments ago
  const auto leaf = evidence_value(r, "certificate");
  EXPECT_EQ(leaf.rfind("CN=localhost,O=vitals tests; issuer CN=vitals test root,O=vitals tests; not after ", 0), 0u)
      << leaf;
  EXPECT_EQ(evidence_value(r, "expires first"), "<absent>") << describe(r);
}

TEST_F(tls_expiry, an_intermediate_that_expires_before_the_leaf_sets_the_expiry_and_is_named) {
  const auto certs = test::make_openssl_chain(dir.path(), 90, 10);
  test::http_fixture_server server({.tls = certs.server});
  const auto r = run_http(server.url("/health"), certs.ca_file);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(sample_value(r, expiry), test::openssl_not_after(certs.intermediate_file)) << describe(r);
  EXPECT_LT(*sample_value(r, seconds_left), 10 * 86400 + 1);
  EXPECT_NE(evidence_value(r, "certificate").find("CN=localhost"), std::string::npos) << describe(r);
  EXPECT_EQ(evidence_value(r, "expires first").rfind("CN=vitals test intermediate,O=vitals tests; issuer CN=vitals "
                                                     "test root",
                                                     0),
            0u)
      << describe(r);
}

TEST_F(tls_expiry, a_certificate_the_probe_refuses_still_shows_its_expiry) {
  const auto certs = test::make_openssl_chain(dir.path(), 90);
  test::http_fixture_server server({.tls = certs.server});
  const auto r = run_http(server.url("/health"), "");  // the system's CAs do not know this root
  EXPECT_EQ(r.reason, "tls") << describe(r);
  EXPECT_EQ(sample_value(r, expiry), test::openssl_not_after(certs.leaf_file)) << describe(r);
}

TEST_F(tls_expiry, a_plain_http_probe_has_no_certificate_series) {
  test::http_fixture_server server;
  const auto r = run_http(server.url("/health"), "");
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_FALSE(sample_value(r, expiry));
  EXPECT_FALSE(sample_value(r, seconds_left));
  EXPECT_EQ(evidence_value(r, "certificate"), "<absent>");
}

TEST_F(tls_expiry, a_wss_probe_exports_the_expiry_of_its_chain) {
  const auto certs = test::make_openssl_chain(dir.path(), 90, 10);
  test::ws_fixture_server server({.tls = certs.server});
  websocket_probe p(ws_settings(server.url(), certs.ca_file), ctx);
  const auto r = test::run_once(io, p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(sample_value(r, expiry), test::openssl_not_after(certs.intermediate_file)) << describe(r);
  EXPECT_NE(evidence_value(r, "expires first").find("CN=vitals test intermediate"), std::string::npos) << describe(r);
}

TEST_F(tls_expiry, a_kept_wss_connection_reports_its_chain_on_every_run) {
  const auto certs = test::make_openssl_chain(dir.path(), 2);
  test::ws_fixture_server server({.tls = certs.server});
  auto s = ws_settings(server.url(), certs.ca_file);
  s.persistent = true;
  websocket_probe p(s, ctx);
  const auto first = test::run_once(io, p);
  ASSERT_TRUE(first.ok) << describe(first);
  const auto second = test::run_once(io, p);  // on the same connection: no handshake to read it from
  ASSERT_TRUE(second.ok) << describe(second);
  EXPECT_EQ(server.handshakes(), 1);
  EXPECT_EQ(sample_value(second, expiry), test::openssl_not_after(certs.leaf_file)) << describe(second);
  // Counted down from this run, not from the connection's first.
  EXPECT_NEAR(*sample_value(second, seconds_left), test::openssl_not_after(certs.leaf_file) - now_unix(), 5);
}

}  // namespace
}  // namespace vitals
