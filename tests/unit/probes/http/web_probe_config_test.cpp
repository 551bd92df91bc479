// The http and websocket probes' keys, as the config loader hands them over.

#include "probes/http/http_probe.hpp"
#include "probes/websocket/websocket_probe.hpp"

#include "support/probe_config_fixture.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using http_probe_config = test::probe_config_fixture<http_probe>;
using websocket_probe_config = test::probe_config_fixture<websocket_probe>;

TEST_F(http_probe_config, url_alone_expects_2xx_with_get) {
  auto* p = create("probes:\n  - {name: h, type: http, url: 'http://127.0.0.1:3001/api/health'}\n");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().method, "GET");
  ASSERT_EQ(p->config().expect_status.size(), 1u);
  EXPECT_EQ(p->config().expect_status[0].first, 200);
  EXPECT_EQ(p->config().expect_status[0].last, 299);
  EXPECT_EQ(p->config().max_redirects, 0);
  EXPECT_EQ(p->target(), "http://127.0.0.1:3001/api/health");
}

TEST_F(http_probe_config, every_http_key_counts_as_known) {
  auto* p = create(R"(
probes:
  - name: h
    type: http
    url: https://127.0.0.1:3001/health/ready
    method: POST
    headers: {Authorization: Bearer abc.def, Content-Type: application/json}
    body: '{"probe": true}'
    tls: {server_name: localhost, insecure_skip_verify: true}
    follow_redirects: 3
    expect_status: [200, 3xx, 400-404]
    expect_json: {status: healthy, checks: {database: connected, replicas: 2}}
    expect_body_regex: 'healthy'
    max_response_seconds: 2
    extract: {errors: .metrics.totalErrors, heap: .memory.heapUsed}
    max_body_bytes: 64KiB
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok()) << only_error();
  const auto& c = p->config();
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.headers.size(), 2u);
  EXPECT_TRUE(c.tls.insecure_skip_verify);
  EXPECT_EQ(c.tls.server_name, "localhost");
  EXPECT_EQ(c.max_redirects, 3);
  EXPECT_EQ(c.expect_status.size(), 3u);
  ASSERT_TRUE(c.expect_json);
  EXPECT_EQ(c.expect_json->at("checks").at("replicas").as_int64(), 2);  // a plain YAML number
  EXPECT_EQ(c.max_response, std::chrono::duration_cast<http_probe::clock::duration>(2s));
  EXPECT_EQ(c.extract.size(), 2u);
  EXPECT_EQ(c.max_body_bytes, 64u * 1024);
  EXPECT_EQ(p->target(), "POST https://127.0.0.1:3001/health/ready");
}

TEST_F(http_probe_config, follow_redirects_true_means_five) {
  auto* p = create("probes:\n  - {name: h, type: http, url: 'http://a/', follow_redirects: true}\n");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().max_redirects, 5);
}

TEST_F(http_probe_config, bad_values_name_their_key) {
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'ftp://a/'}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].url: \"ftp://a/\" is not an http:// or https:// URL"), std::string::npos)
      << only_error();

  diags = diagnostics("vitals.yaml");
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'http://a/', expect_status: [200, 2x]}\n"), nullptr);
  EXPECT_NE(only_error().find("\"2x\" is not a status"), std::string::npos) << only_error();

  diags = diagnostics("vitals.yaml");
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'http://a/', extract: {e: metrics.total}}\n"), nullptr);
  EXPECT_NE(only_error().find("is not a JSON path"), std::string::npos) << only_error();

  diags = diagnostics("vitals.yaml");
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'http://a/', headers: {Host: x}}\n"), nullptr);
  EXPECT_NE(only_error().find("is set by the probe itself"), std::string::npos) << only_error();

  diags = diagnostics("vitals.yaml");
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'http://a/', max_response_seconds: 10}\n"), nullptr);
  EXPECT_NE(only_error().find("must be shorter than timeout"), std::string::npos) << only_error();

  diags = diagnostics("vitals.yaml");
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'http://a/', tls: {ca_file: /nonexistent/ca.pem}}\n"),
            nullptr);
  EXPECT_NE(only_error().find("probes[0].tls.ca_file: cannot read"), std::string::npos) << only_error();
}

TEST_F(http_probe_config, a_password_written_into_the_url_is_refused_without_being_echoed) {
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'https://admin:hunter2@api.example/health'}\n"), nullptr);
  EXPECT_EQ(only_error().find("hunter2"), std::string::npos) << only_error();
  EXPECT_NE(only_error().find("\"https://<redacted>@api.example/health\""), std::string::npos) << only_error();
}

TEST_F(http_probe_config, a_secret_header_value_is_never_echoed_in_errors) {
  test::scoped_env token("VITALS_TEST_TOKEN", "Bearer s3cr3t-t0ken\nX");
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'http://a/', headers: {Authorization: '${env:VITALS_TEST_TOKEN}'}}\n"),
            nullptr);
  EXPECT_EQ(only_error().find("s3cr3t"), std::string::npos) << only_error();
}

TEST_F(http_probe_config, a_secret_in_a_value_that_is_not_valid_is_never_echoed) {
  // Found by fuzz_config: these three quoted the substituted text.
  test::scoped_env secret("VITALS_TEST_SECRET", "s3cr3t-value");
  for (const char* key : {"expect_status: '${env:VITALS_TEST_SECRET}'", "expect_status: [200, '${env:VITALS_TEST_SECRET}']",
                          "extract: {e: '${env:VITALS_TEST_SECRET}'}", "max_response_seconds: '${env:VITALS_TEST_SECRET}'"}) {
    diags = diagnostics("vitals.yaml");
    EXPECT_EQ(create(std::string("probes:\n  - {name: h, type: http, url: 'http://a/', ") + key + "}\n"), nullptr);
    EXPECT_EQ(only_error().find("s3cr3t"), std::string::npos) << only_error();
    EXPECT_NE(only_error().find("<redacted>"), std::string::npos) << only_error();
  }
}

TEST_F(http_probe_config, a_header_or_extract_field_without_a_value_is_missing) {
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'http://a/', headers: {X-Token: }}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].headers.X-Token: missing required key"), std::string::npos) << only_error();

  diags = diagnostics("vitals.yaml");
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'http://a/', extract: {errors: }}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].extract.errors: missing required key"), std::string::npos) << only_error();
}

TEST_F(http_probe_config, an_unknown_tls_key_is_an_error_with_a_hint) {
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'https://a/', tls: {server_nmae: a}}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].tls.server_nmae: unknown key; did you mean \"server_name\"?"),
            std::string::npos)
      << only_error();
}

TEST_F(http_probe_config, a_ca_file_that_is_not_pem_is_an_error_at_tls) {
  test::temp_file ca("not a certificate\n");
  EXPECT_EQ(create("probes:\n  - {name: h, type: http, url: 'https://a/', tls: {ca_file: " + ca.path() + "}}\n"),
            nullptr);
  EXPECT_NE(only_error().find("probes[0].tls: cannot load CA file " + ca.path()), std::string::npos) << only_error();
}

TEST_F(websocket_probe_config, send_and_expect_json_mean_message_mode) {
  auto* p = create(R"(
probes:
  - name: ws
    type: websocket
    url: ws://127.0.0.1:8080/ws
    headers: {Origin: "http://localhost:3000", Authorization: "Bearer t"}
    subprotocols: [chat, json]
    send: '{"type":"ping","ts":{{unix_ms}}}'
    expect_json: {type: pong}
    max_message_bytes: 64KiB
    max_messages: 20
    persistent: true
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok()) << only_error();
  const auto& c = p->config();
  EXPECT_EQ(c.mode, websocket_probe::ping_mode::message);
  EXPECT_EQ(c.subprotocols.size(), 2u);
  EXPECT_TRUE(c.persistent);
  EXPECT_EQ(c.max_message_bytes, 64u * 1024);
  EXPECT_EQ(c.max_messages, 20u);
}

TEST_F(websocket_probe_config, url_alone_checks_the_handshake) {
  auto* p = create("probes:\n  - {name: ws, type: websocket, url: 'wss://example.com/socket'}\n");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().mode, websocket_probe::ping_mode::handshake);
  EXPECT_TRUE(p->config().url.tls);
}

TEST_F(websocket_probe_config, contradictions_are_errors) {
  EXPECT_EQ(create("probes:\n  - {name: ws, type: websocket, url: 'ws://a/', mode: control, send: hi}\n"), nullptr);
  EXPECT_NE(only_error().find("mode control sends a protocol ping frame"), std::string::npos) << only_error();

  diags = diagnostics("vitals.yaml");
  EXPECT_EQ(create("probes:\n  - {name: ws, type: websocket, url: 'ws://a/', expect: pong, expect_regex: pong}\n"),
            nullptr);
  EXPECT_NE(only_error().find("use one of expect, expect_regex and expect_json"), std::string::npos) << only_error();

  diags = diagnostics("vitals.yaml");
  EXPECT_EQ(create("probes:\n  - {name: ws, type: websocket, url: 'http://a/'}\n"), nullptr);
  EXPECT_NE(only_error().find("is not a ws:// or wss:// URL"), std::string::npos) << only_error();

  diags = diagnostics("vitals.yaml");
  EXPECT_EQ(create("probes:\n  - {name: ws, type: websocket, url: 'ws://a/', headers: {Sec-WebSocket-Key: x}}\n"),
            nullptr);
  EXPECT_NE(only_error().find("is set by the probe itself"), std::string::npos) << only_error();
}

}  // namespace
}  // namespace vitals
