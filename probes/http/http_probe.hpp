#pragma once

#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/net/web_target.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vitals {

class node_reader;
struct probe_settings;

// Which status codes count as healthy: "200", "2xx", "200-299".
struct status_range {
  int first = 200;
  int last = 299;
};

// `type: http` — `curl -i URL | jq`, done continuously: status, latency,
// a JSON or text condition on the body, and numeric fields of a health
// payload as gauges. Failure reasons: resolve, refused, unreachable,
// timeout, tls, protocol, status, rate_limited, unavailable, slow,
// redirects, too_large, bad_json, body_mismatch, error.
// See docs/probes/http.md.
class http_probe final : public probe {
public:
  static constexpr std::string_view type = "http";
  using clock = std::chrono::steady_clock;

  struct settings {
    web_url url;
    std::string method = "GET";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    tls_settings tls;
    int max_redirects = 0;  // follow_redirects: false = 0, true = 5, or a number up to 10
    std::vector<status_range> expect_status{{200, 299}};
    std::optional<boost::json::value> expect_json;
    std::string expect_body_regex;              // the text, for messages
    std::optional<user_regex> body_regex;
    std::optional<clock::duration> max_response;  // max_response_seconds
    std::vector<std::pair<std::string, json_path>> extract;  // field label -> path
    std::uint64_t max_body_bytes = 1024 * 1024;
    clock::duration timeout = std::chrono::seconds(5);  // the probe's: every I/O of a run ends by then
  };

  // `ctx` must outlive the probe. Builds the TLS context for an https:// URL
  // (throws std::runtime_error when the CA file cannot be loaded); for an
  // http:// URL only once a redirect to https:// is followed.
  http_probe(settings s, const probe_context& ctx);
  ~http_probe() override;

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  asio::awaitable<probe_result> run() override;
  std::string target() const override;

  const settings& config() const { return settings_; }
  // Whether the probe holds a TLS context (and the CA bundle it loaded).
  bool has_tls_context() const { return tls_ != nullptr; }

private:
  settings settings_;
  const probe_context* ctx_;
  // Built on first need, then kept: at construction for https://, at the
  // first redirect to https:// otherwise. A plain http:// probe never pays
  // for one (megabytes of CA certificates).
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::vector<std::string> secrets_;                // configured credential values, never echoed
};

// Parses one expect_status item: 200, "2xx", "200-299". nullopt when invalid.
std::optional<status_range> parse_status_range(const std::string& text);

}  // namespace vitals
