// The HTTP probe against the fixture server (healthy and unhealthy JSON,
// 503, 429, malformed JSON, slow answers, huge bodies, redirect loops), a
// server that speaks garbage, and https with a throwaway CA.

#include "probes/http/http_probe.hpp"

#include "fixtures/http_fixture_server.hpp"
#include "support/run_probe.hpp"
#include "support/temp_env.hpp"
#include "support/test_ca.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using test::describe;
using test::evidence_value;
using test::sample_value;

std::optional<double> json_value(const probe_result& r, const std::string& field) {
  for (const auto& s : r.samples)
    if (s.name == "vitals_http_json_value" && s.labels.at("field") == field) return s.value;
  return std::nullopt;
}

web_url url_of(const std::string& text) {
  std::string error;
  return *parse_web_url(text, false, error);
}

class http_probe_run : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};

  ~http_probe_run() override { pool.join(); }

  http_probe::settings settings_for(const std::string& url) {
    http_probe::settings s;
    s.url = url_of(url);
    s.timeout = 3s;
    return s;
  }
  probe_result run(const http_probe::settings& s) {
    http_probe p(s, ctx);
    return test::run_once(io, p);
  }
};

TEST_F(http_probe_run, healthy_payload_passes_and_its_numbers_become_gauges) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/health"));
  s.expect_json = boost::json::parse(R"({"status":"healthy","metrics":{"totalErrors":3}})");
  s.extract = {{"errors", *parse_json_path(".metrics.totalErrors")},
               {"heap", *parse_json_path(".memory.heapUsed")},
               {"version", *parse_json_path(".version")}};
  const auto r = run(s);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(sample_value(r, "vitals_http_status_code"), 200);
  EXPECT_GT(*sample_value(r, "vitals_http_response_seconds"), 0);
  EXPECT_EQ(json_value(r, "errors"), 3);
  EXPECT_EQ(json_value(r, "heap"), 123456789);
  EXPECT_FALSE(json_value(r, "version"));  // "1.4.2" is not a number
  EXPECT_NE(evidence_value(r, "extract version"), "<absent>") << describe(r);
  EXPECT_EQ(evidence_value(r, "status"), "HTTP/1.1 200 OK");
  EXPECT_EQ(server.last_request_method(), "GET");
  EXPECT_EQ(server.last_request_headers().at("user-agent").rfind("vitalsd/", 0), 0u);
}

TEST_F(http_probe_run, unhealthy_503_fails_as_unavailable_quoting_the_payload) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/health/ready"));
  s.extract = {{"x", *parse_json_path(".nope")}};
  const auto r = run(s);
  EXPECT_EQ(r.reason, "unavailable") << describe(r);
  EXPECT_NE(r.error.find(R"("database":"disconnected")"), std::string::npos) << r.error;
  EXPECT_EQ(sample_value(r, "vitals_http_status_code"), 503);
}

TEST_F(http_probe_run, expected_503_passes) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/health/ready"));
  s.expect_status = {{503, 503}};
  EXPECT_TRUE(run(s).ok);
}

TEST_F(http_probe_run, rate_limit_429_fails_with_retry_after) {
  test::http_fixture_server server;
  const auto r = run(settings_for(server.url("/limited")));
  EXPECT_EQ(r.reason, "rate_limited") << describe(r);
  EXPECT_NE(r.error.find("Retry-After: 30"), std::string::npos) << r.error;
  EXPECT_EQ(evidence_value(r, "retry-after"), "30");
}

TEST_F(http_probe_run, other_statuses_fail_with_their_code) {
  test::http_fixture_server server;
  const auto r = run(settings_for(server.url("/status/500")));
  EXPECT_EQ(r.reason, "status") << describe(r);
  EXPECT_NE(r.error.find("status 500 Internal Server Error, expected 2xx"), std::string::npos) << r.error;
}

TEST_F(http_probe_run, malformed_json_is_bad_json) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/bad-json"));
  s.expect_json = boost::json::parse(R"({"status":"healthy"})");
  const auto r = run(s);
  EXPECT_EQ(r.reason, "bad_json") << describe(r);
}

TEST_F(http_probe_run, json_that_differs_is_a_body_mismatch_naming_the_field) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/health"));
  s.expect_json = boost::json::parse(R"({"database":"disconnected"})");
  const auto r = run(s);
  EXPECT_EQ(r.reason, "body_mismatch") << describe(r);
  EXPECT_EQ(r.error, R"(JSON .database: expected "disconnected", got "connected")");
}

user_regex search_regex(const std::string& pattern) {
  std::string why;
  return *user_regex::compile(pattern, user_regex::anchoring::search, why);
}

TEST_F(http_probe_run, body_regex_must_match) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/text"));
  s.expect_body_regex = "all systems go";
  s.body_regex = search_regex(s.expect_body_regex);
  EXPECT_TRUE(run(s).ok);
  s.expect_body_regex = "degraded";
  s.body_regex = search_regex(s.expect_body_regex);
  EXPECT_EQ(run(s).reason, "body_mismatch");
}

TEST_F(http_probe_run, slower_than_max_response_is_slow) {
  test::http_fixture_options o;
  o.slow = 300ms;
  test::http_fixture_server server(o);
  auto s = settings_for(server.url("/slow"));
  s.max_response = 100ms;
  const auto r = run(s);
  EXPECT_EQ(r.reason, "slow") << describe(r);
  EXPECT_GE(*sample_value(r, "vitals_http_response_seconds"), 0.3);
}

TEST_F(http_probe_run, a_server_that_never_answers_ends_at_the_deadline) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/hang"));
  s.timeout = 300ms;
  http_probe p(s, ctx);
  // As the scheduler runs it: the probe's own deadline and the scheduler's
  // are the same; whichever ends the run, it ends.
  const auto r = test::run_with_deadline(io, p, 300ms);
  if (r) {
    EXPECT_EQ(r->reason, "timeout") << describe(*r);
  }
}

TEST_F(http_probe_run, a_body_read_slowly_past_the_timeout_is_a_timeout) {
  test::http_fixture_options o;
  o.slow = 2s;
  test::http_fixture_server server(o);
  auto s = settings_for(server.url("/slow-body"));
  s.timeout = 400ms;
  const auto r = run(s);
  EXPECT_EQ(r.reason, "timeout") << describe(r);
  EXPECT_NE(r.error.find("read the response body"), std::string::npos) << r.error;
}

TEST_F(http_probe_run, a_huge_body_is_too_large_and_not_buffered) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/huge"));
  s.max_body_bytes = 64 * 1024;
  const auto r = run(s);
  EXPECT_EQ(r.reason, "too_large") << describe(r);
  EXPECT_NE(r.error.find("64.0 KiB"), std::string::npos) << r.error;
}

TEST_F(http_probe_run, redirects_are_followed_only_when_asked_and_loops_end) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/redirect"));
  const auto not_followed = run(s);
  EXPECT_EQ(not_followed.reason, "status") << describe(not_followed);
  EXPECT_EQ(evidence_value(not_followed, "location"), "/health");

  s.max_redirects = 5;
  const auto followed = run(s);
  EXPECT_TRUE(followed.ok) << describe(followed);
  EXPECT_NE(evidence_value(followed, "redirect").find("-> " + server.url("/health")), std::string::npos)
      << describe(followed);

  auto loop = settings_for(server.url("/redirect-loop"));
  loop.max_redirects = 3;
  const auto looped = run(loop);
  EXPECT_EQ(looped.reason, "redirects") << describe(looped);
  EXPECT_EQ(server.requests(), 1 + 2 + 4);  // not followed, followed once, the loop cut after 3 redirects
}

TEST_F(http_probe_run, nothing_listening_is_refused) {
  asio::ip::tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = closed.local_endpoint().port();
  closed.close();
  const auto r = run(settings_for("http://127.0.0.1:" + std::to_string(port) + "/health"));
  EXPECT_EQ(r.reason, "refused") << describe(r);
}

TEST_F(http_probe_run, a_peer_speaking_garbage_is_a_protocol_error) {
  // An SSH banner where HTTP was expected.
  asio::io_context server_io;
  asio::ip::tcp::acceptor acceptor(server_io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  std::thread server([&] {
    auto socket = acceptor.accept();
    boost::system::error_code ec;
    asio::write(socket, asio::buffer(std::string("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\r\n")), ec);
    char buf[512];
    socket.read_some(asio::buffer(buf), ec);
  });
  const auto r = run(settings_for("http://127.0.0.1:" + std::to_string(port) + "/"));
  server.join();
  EXPECT_EQ(r.reason, "protocol") << describe(r);
}

TEST_F(http_probe_run, configured_credentials_are_sent_and_never_echoed_into_evidence) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/echo"));
  s.headers = {{"Authorization", "Bearer eyJ0eXAiOiJKV1Qi.c2VjcmV0.sig"}};
  const auto r = run(s);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(server.last_request_headers().at("authorization"), "Bearer eyJ0eXAiOiJKV1Qi.c2VjcmV0.sig");
  EXPECT_EQ(describe(r).find("eyJ0eXAiOiJKV1Qi"), std::string::npos) << describe(r);
  EXPECT_NE(evidence_value(r, "body").find("<redacted>"), std::string::npos) << describe(r);
}

TEST_F(http_probe_run, post_sends_the_body_with_templates_filled) {
  test::http_fixture_server server;
  auto s = settings_for(server.url("/echo"));
  s.method = "POST";
  s.body = R"({"at":{{unix}}})";
  EXPECT_TRUE(run(s).ok);
  EXPECT_EQ(server.last_request_method(), "POST");
  EXPECT_EQ(server.last_request_body().find("{{unix}}"), std::string::npos);
  EXPECT_EQ(server.last_request_body().rfind(R"({"at":)", 0), 0u) << server.last_request_body();
}

class https_probe_run : public http_probe_run {
protected:
  test::temp_dir dir;
  test::test_ca ca = test::test_ca::make();
  std::string ca_file = ca.write_ca_file(dir.path());
};

TEST_F(https_probe_run, a_server_signed_by_the_configured_ca_is_trusted) {
  test::http_fixture_options o;
  o.tls = ca.server;
  test::http_fixture_server server(o);
  auto s = settings_for(server.url("/health"));
  ASSERT_EQ(s.url.scheme, "https");
  s.tls.ca_file = ca_file;
  s.tls.server_name = "localhost";
  const auto r = run(s);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_NE(evidence_value(r, "certificate").find("CN=localhost"), std::string::npos) << describe(r);
}

TEST_F(https_probe_run, an_untrusted_certificate_fails_with_tls_unless_verification_is_skipped) {
  test::http_fixture_options o;
  o.tls = ca.server;
  test::http_fixture_server server(o);
  auto s = settings_for(server.url("/health"));  // system CAs only: ours is unknown
  const auto r = run(s);
  EXPECT_EQ(r.reason, "tls") << describe(r);
  EXPECT_NE(r.error.find("certificate"), std::string::npos) << r.error;

  s.tls.insecure_skip_verify = true;
  EXPECT_TRUE(run(s).ok);
}

TEST_F(https_probe_run, a_certificate_for_another_name_fails_with_tls) {
  test::http_fixture_options o;
  o.tls = ca.server;
  test::http_fixture_server server(o);
  auto s = settings_for(server.url("/health"));
  s.tls.ca_file = ca_file;
  s.tls.server_name = "api.example.com";
  EXPECT_EQ(run(s).reason, "tls");
}

}  // namespace
}  // namespace vitals
