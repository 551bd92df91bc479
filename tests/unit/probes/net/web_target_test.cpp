// What the HTTP and WebSocket probes share: URLs, JSON conditions and
// paths, templates, redaction of configured secrets.

#include "probes/http/http_probe.hpp"
#include "probes/net/web_target.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

web_url url_of(const std::string& text, bool websocket = false) {
  std::string error;
  auto u = parse_web_url(text, websocket, error);
  EXPECT_TRUE(u) << text << ": " << error;
  return u.value_or(web_url{});
}

std::string url_error(const std::string& text, bool websocket = false) {
  std::string error;
  EXPECT_FALSE(parse_web_url(text, websocket, error)) << text;
  return error;
}

TEST(web_url, splits_host_port_and_target) {
  const auto u = url_of("http://127.0.0.1:3001/api/health?full=1");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 3001);
  EXPECT_EQ(u.target, "/api/health?full=1");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host_header(), "127.0.0.1:3001");
  EXPECT_EQ(u.text(), "http://127.0.0.1:3001/api/health?full=1");
}

TEST(web_url, default_ports_and_paths) {
  const auto https = url_of("https://example.com");
  EXPECT_EQ(https.port, 443);
  EXPECT_EQ(https.target, "/");
  EXPECT_TRUE(https.tls);
  EXPECT_EQ(https.host_header(), "example.com");
  const auto wss = url_of("wss://example.com/socket", true);
  EXPECT_EQ(wss.port, 443);
  EXPECT_TRUE(wss.tls);
  EXPECT_EQ(url_of("ws://localhost/ws", true).port, 80);
}

TEST(web_url, ipv6_literal_loses_its_brackets_for_connecting_only) {
  const auto u = url_of("ws://[::1]:8080/ws", true);
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.host_header(), "[::1]:8080");
}

TEST(web_url, wrong_scheme_userinfo_and_garbage_are_refused) {
  EXPECT_EQ(url_error("ws://127.0.0.1/ws"), "is not an http:// or https:// URL");
  EXPECT_EQ(url_error("http://127.0.0.1/", true), "is not a ws:// or wss:// URL");
  EXPECT_NE(url_error("http://admin:hunter2@127.0.0.1/").find("put credentials in headers"), std::string::npos);
  EXPECT_EQ(url_error("not a url"), "is not a valid URL");
  EXPECT_EQ(url_error("http:///path"), "has no host");
}

TEST(web_url, locations_resolve_against_the_request) {
  const auto base = url_of("http://127.0.0.1:8080/a/b?x=1");
  auto text_of = [&](const std::string& location) {
    auto u = resolve_location(base, location);
    return u ? u->text() : "<none>";
  };
  EXPECT_EQ(text_of("/health"), "http://127.0.0.1:8080/health");
  EXPECT_EQ(text_of("c"), "http://127.0.0.1:8080/a/c");
  EXPECT_EQ(text_of("https://other.example/x"), "https://other.example/x");
  EXPECT_FALSE(resolve_location(base, "ftp://other.example/x"));
}

boost::json::value json(const char* text) { return boost::json::parse(text); }

TEST(json_subset, every_expected_key_must_match_nested_too) {
  const auto actual = json(R"({"status":"healthy","database":"connected","metrics":{"totalErrors":3,"up":true}})");
  EXPECT_EQ(json_subset_mismatch(json(R"({"status":"healthy"})"), actual), "");
  EXPECT_EQ(json_subset_mismatch(json(R"({"metrics":{"totalErrors":3}})"), actual), "");
  EXPECT_EQ(json_subset_mismatch(json(R"({"database":"disconnected"})"), actual),
            R"(.database: expected "disconnected", got "connected")");
  EXPECT_EQ(json_subset_mismatch(json(R"({"metrics":{"latency":1}})"), actual), ".metrics.latency: missing");
  EXPECT_EQ(json_subset_mismatch(json(R"({"status":{"ok":true}})"), actual),
            R"(.status: expected an object, got "healthy")");
}

TEST(json_subset, numbers_compare_by_value_and_by_text_against_strings) {
  EXPECT_EQ(json_subset_mismatch(json(R"({"n":3})"), json(R"({"n":3.0})")), "");
  EXPECT_EQ(json_subset_mismatch(json(R"({"code":200})"), json(R"({"code":"200"})")), "");
  EXPECT_NE(json_subset_mismatch(json(R"({"n":3})"), json(R"({"n":4})")), "");
  EXPECT_NE(json_subset_mismatch(json(R"({"up":true})"), json(R"({"up":"yes"})")), "");
}

TEST(json_subset, arrays_match_item_by_item) {
  EXPECT_EQ(json_subset_mismatch(json(R"({"a":[{"id":1}]})"), json(R"({"a":[{"id":1,"x":2}]})")), "");
  EXPECT_EQ(json_subset_mismatch(json(R"({"a":[1,2]})"), json(R"({"a":[1]})")), ".a: expected 2 items, got 1");
}

TEST(json_path, reads_dotted_paths_and_indexes) {
  const auto doc = json(R"({"metrics":{"totalErrors":3},"memory":{"heapUsed":1.5e8},"items":[{"count":7}],"up":true,"v":"1.2"})");
  EXPECT_EQ(json_number(doc, *parse_json_path(".metrics.totalErrors")), 3);
  EXPECT_EQ(json_number(doc, *parse_json_path(".memory.heapUsed")), 1.5e8);
  EXPECT_EQ(json_number(doc, *parse_json_path(".items[0].count")), 7);
  EXPECT_EQ(json_number(doc, *parse_json_path(".up")), 1);
  EXPECT_FALSE(json_number(doc, *parse_json_path(".v")));  // a string is not a number
  EXPECT_FALSE(json_number(doc, *parse_json_path(".items[3].count")));
  EXPECT_FALSE(json_number(doc, *parse_json_path(".nope")));
  EXPECT_TRUE(parse_json_path("."));
  EXPECT_FALSE(parse_json_path("metrics.x"));
  EXPECT_FALSE(parse_json_path(".a..b"));
  EXPECT_FALSE(parse_json_path(".a."));
  EXPECT_FALSE(parse_json_path(".a[x]"));
}

TEST(templates, fill_unix_time_and_uuids) {
  const auto text = fill_templates(R"({"type":"ping","ts":{{unix_ms}},"s":{{unix}},"id":"{{uuid}}"})");
  EXPECT_FALSE(has_templates(text));
  const auto doc = boost::json::parse(text);
  EXPECT_GT(doc.at("ts").as_int64(), 1'700'000'000'000);
  EXPECT_GT(doc.at("s").as_int64(), 1'700'000'000);
  const std::string id(doc.at("id").as_string());
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');  // version 4
  EXPECT_NE(fill_templates("{{uuid}}"), fill_templates("{{uuid}}"));
  EXPECT_EQ(fill_templates("plain"), "plain");
}

TEST(secrets, credential_headers_are_redacted_from_echoed_text) {
  const auto secrets = secret_header_values(
      {{"Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig"}, {"Origin", "http://localhost:3000"},
       {"X-Api-Key", "k-123456"}});
  const std::string echoed = R"({"auth":"Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig","key":"k-123456","origin":"http://localhost:3000"})";
  const auto shown = redact(echoed, secrets);
  EXPECT_EQ(shown.find("eyJhbGci"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("k-123456"), std::string::npos) << shown;
  EXPECT_NE(shown.find("http://localhost:3000"), std::string::npos) << shown;  // not a credential
}

TEST(body_excerpt, one_line_cut_at_the_limit) {
  EXPECT_EQ(body_excerpt("{\n  \"a\": 1\n}\n", 100), "{ \"a\": 1 }");
  EXPECT_EQ(body_excerpt(std::string(50, 'x'), 10), "xxxxxxxxxx…");
  EXPECT_EQ(body_excerpt("h\xc3\xa9llo", 2), "h…");  // never half a UTF-8 character
}

TEST(status_range, single_codes_classes_and_ranges) {
  EXPECT_EQ(parse_status_range("200")->first, 200);
  EXPECT_EQ(parse_status_range("2xx")->last, 299);
  EXPECT_EQ(parse_status_range("200-204")->last, 204);
  EXPECT_FALSE(parse_status_range("2xxx"));
  EXPECT_FALSE(parse_status_range("700"));
  EXPECT_FALSE(parse_status_range("300-200"));
  EXPECT_FALSE(parse_status_range("ok"));
}

}  // namespace
}  // namespace vitals

namespace vitals {
namespace {

TEST(json_subset, a_number_boost_reads_as_nan_still_matches_itself) {
  // Found by fuzz_json_path: "0e616" parses as NaN, which equals nothing.
  const auto doc = boost::json::parse("{\"n\":9232237036854775808,\"d\":0e616}");
  EXPECT_EQ(json_subset_mismatch(doc, doc), "");
}

}  // namespace
}  // namespace vitals
