#include "probes/http/http_probe.hpp"

#include "probes/core/units.hpp"
#include "probes/core/version.hpp"
#include "probes/net/tls_certificate.hpp"
#include "probes/net/web_stream.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace vitals {

namespace {

namespace http = beast::http;
using clock = http_probe::clock;

constexpr metric_info http_metrics[] = {
    {"vitals_http_status_code", "HTTP status of the last response (after redirects); absent when none came.",
     metric_kind::gauge},
    {"vitals_http_response_seconds",
     "From the start of the run to the last byte of the response: resolve, connect, TLS, redirects included.",
     metric_kind::gauge},
    {"vitals_http_json_value", "A number from the response's JSON body, one series per `extract` field.",
     metric_kind::gauge},
    tls_cert_expiry_timestamp_metric,
    tls_cert_expiry_metric,
};

constexpr std::size_t body_evidence_bytes = 1024;
constexpr std::size_t body_in_error_bytes = 200;

// Response headers worth showing a responder.
constexpr std::string_view shown_headers[] = {"content-type", "content-length", "retry-after", "location",
                                              "www-authenticate", "server", "cache-control"};

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

// What one request/response exchange produced.
struct exchange_result {
  std::optional<web_failure> failure;
  phase_times times;
  unsigned status = 0;
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;  // the shown ones, lowercase names
  std::string location;
  std::string retry_after;
  std::string body;
  bool too_large = false;
  double first_byte_seconds = 0;
  std::optional<tls_chain> chain;  // https://: what the server sent in the TLS handshake, trusted or not
};

http::request<http::string_body> make_request(const http_probe::settings& s, const web_url& url,
                                              const std::string& method, bool with_body) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(url.target);
  req.version(11);
  req.set(http::field::host, url.host_header());
  req.set(http::field::user_agent, "vitalsd/" + std::string(version()));
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : s.headers) req.set(name, value);
  if (with_body && !s.body.empty()) {
    req.body() = fill_templates(s.body);
    req.prepare_payload();
  } else if (method == "POST" || method == "PUT" || method == "PATCH") {
    req.content_length(0);
  }
  return req;
}

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, const http::request<http::string_body>& req, std::uint64_t limit,
                               clock::time_point started, exchange_result& out) {
  auto [write_error, written] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
  (void)written;
  if (write_error) {
    out.failure = classify_io_error(write_error, "send the request");
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(limit);
  if (req.method() == http::verb::head) parser.skip(true);
  auto [header_error, header_bytes] =
      co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  (void)header_bytes;
  // A Content-Length over the limit is refused as soon as the header is in.
  if (header_error && !(header_error == http::error::body_limit && parser.is_header_done())) {
    out.failure = classify_io_error(header_error, "read the response");
    co_return;
  }
  out.first_byte_seconds = seconds_since(started);
  boost::system::error_code body_error = header_error;
  if (!body_error) {
    auto [ec, body_bytes] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    (void)body_bytes;
    body_error = ec;
  }
  const auto& res = parser.get();
  out.status = res.result_int();
  out.status_line = "HTTP/" + std::to_string(res.version() / 10) + "." + std::to_string(res.version() % 10) + " " +
                    std::to_string(out.status) + " " + std::string(res.reason());
  for (const auto& field : res) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (std::find(std::begin(shown_headers), std::end(shown_headers), name) != std::end(shown_headers))
      out.headers.emplace_back(name, std::string(field.value()));
    if (name == "location") out.location = std::string(field.value());
    if (name == "retry-after") out.retry_after = std::string(field.value());
  }
  if (body_error == http::error::body_limit) {
    out.too_large = true;
  } else if (body_error) {
    out.failure = classify_io_error(body_error, "read the response body");
    co_return;
  }
  out.body = res.body();
}

// One request to `url`, on a fresh connection that ends with the exchange.
asio::awaitable<exchange_result> fetch(const http_probe::settings& s, const web_url& url, const std::string& method,
                                       bool with_body, asio::ssl::context* tls, clock::time_point deadline) {
  exchange_result out;
  auto ex = co_await asio::this_coro::executor;
  const auto started = clock::now();
  const auto req = make_request(s, url, method, with_body);
  if (url.tls) {
    tls_stream stream(ex, *tls);
    beast::get_lowest_layer(stream).expires_at(deadline);
    if ((out.failure = co_await connect_stream(beast::get_lowest_layer(stream), url, out.times))) co_return out;
    out.failure = co_await handshake_tls(stream, url, s.tls, out.times);
    // Also when the certificate was refused: an expired one is then in the series.
    out.chain = peer_chain(stream);
    if (out.failure) co_return out;
    co_await exchange(stream, req, s.max_body_bytes, started, out);
    boost::system::error_code ec;
    beast::get_lowest_layer(stream).socket().close(ec);  // Connection: close; no TLS close_notify wait
  } else {
    beast::tcp_stream stream(ex);
    stream.expires_at(deadline);
    if ((out.failure = co_await connect_stream(stream, url, out.times))) co_return out;
    co_await exchange(stream, req, s.max_body_bytes, started, out);
    boost::system::error_code ec;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  }
  co_return out;
}

std::string expected_text(const std::vector<status_range>& ranges) {
  std::string text;
  for (const auto& r : ranges) {
    if (!text.empty()) text += ", ";
    if (r.first == r.last)
      text += std::to_string(r.first);
    else if (r.first % 100 == 0 && r.last == r.first + 99)
      text += std::to_string(r.first / 100) + "xx";
    else
      text += std::to_string(r.first) + "-" + std::to_string(r.last);
  }
  return text;
}

bool expected_status(const std::vector<status_range>& ranges, unsigned status) {
  return std::any_of(ranges.begin(), ranges.end(), [&](const status_range& r) {
    return static_cast<int>(status) >= r.first && static_cast<int>(status) <= r.last;
  });
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

http_probe::http_probe(settings s, const probe_context& ctx)
    : settings_(std::move(s)), ctx_(&ctx), tls_(settings_.url.tls ? make_client_tls(settings_.tls) : nullptr),
      secrets_(secret_header_values(settings_.headers)) {}

http_probe::~http_probe() = default;

std::span<const metric_info> http_probe::metrics() { return http_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert http_alerts[] = {
    {"HTTPHealthFailing", "vitals_probe_up{kind=\"http\"} == 0", builtin_alert::no_threshold, 1min, "high",
     "health check {{ $labels.probe }} is failing",
     "The HTTP probe {{ $labels.probe }} gets a wrong status, a slow answer or an unhealthy payload."},
    tls_cert_expiring_soon,  // the WebSocket kind lists it too: one rule serves both
};

}  // namespace

std::span<const builtin_alert> http_probe::alerts() { return http_alerts; }

std::string http_probe::target() const {
  return (settings_.method == "GET" ? std::string() : settings_.method + " ") + settings_.url.text();
}

asio::awaitable<probe_result> http_probe::run() {
  const auto started = clock::now();
  const auto deadline = started + settings_.timeout;
  web_url url = settings_.url;
  std::string method = settings_.method;
  bool with_body = true;
  std::vector<std::string> hops;
  exchange_result x;
  std::optional<tls_chain> chain;  // of every TLS hop, the one that expires first
  bool too_many_redirects = false;
  for (int hop = 0;; ++hop) {
    if (url.tls && !tls_) {
      // A redirect from http:// to https://: the first one builds the context.
      try {
        tls_ = make_client_tls(settings_.tls);
      } catch (const std::runtime_error& e) {
        x = exchange_result{};
        x.failure = web_failure{"tls", e.what()};
        break;
      }
    }
    x = co_await fetch(settings_, url, method, with_body, tls_.get(), deadline);
    if (x.chain) chain = chain ? earlier_chain(*chain, *x.chain) : *x.chain;
    if (x.failure || !is_redirect(x.status) || settings_.max_redirects == 0 || x.location.empty()) break;
    if (hop == settings_.max_redirects) {
      too_many_redirects = true;
      break;
    }
    auto next = resolve_location(url, x.location);
    if (!next) break;  // not http(s): judged as the response it is
    hops.push_back(std::to_string(x.status) + " " + url.text() + " -> " + next->text());
    if (x.status == 303 || ((x.status == 301 || x.status == 302) && method == "POST")) {
      method = "GET";
      with_body = false;
    }
    url = *next;
  }
  const double total = seconds_since(started);

  probe_result r = probe_result::success();
  auto& ev = r.evidence;
  if (!x.times.address.empty()) ev.emplace_back("address", x.times.address);
  for (const auto& h : hops) ev.emplace_back("redirect", h);
  std::string timing;
  if (!x.times.address.empty()) timing += "connect " + format_seconds(x.times.connect_seconds) + ", ";
  if (x.times.tls_seconds > 0) timing += "tls " + format_seconds(x.times.tls_seconds) + ", ";
  if (x.first_byte_seconds > 0) timing += "first byte " + format_seconds(x.first_byte_seconds) + ", ";
  timing += "total " + format_seconds(total);
  ev.emplace_back("timing", timing);
  if (chain) add_tls_chain(r, *chain, std::chrono::system_clock::now());

  if (x.failure) {
    r.ok = false;
    r.reason = x.failure->reason;
    r.error = x.failure->error;
    co_return r;
  }

  r.samples.push_back({"vitals_http_status_code", {}, static_cast<double>(x.status)});
  r.samples.push_back({"vitals_http_response_seconds", {}, total});
  ev.emplace_back("status", x.status_line);
  for (const auto& [name, value] : x.headers) ev.emplace_back(name, redact(value, secrets_));
  if (!x.body.empty()) ev.emplace_back("body", redact(body_excerpt(x.body, body_evidence_bytes), secrets_));

  // JSON, when a condition or an extraction needs it.
  std::optional<boost::json::value> json;
  std::string json_error;
  if ((settings_.expect_json || !settings_.extract.empty()) && !x.too_large) {
    boost::system::error_code ec;
    auto parsed = boost::json::parse(x.body, ec);
    if (ec)
      json_error = "body is not JSON (" + ec.message() + ")";
    else
      json = std::move(parsed);
  }
  if (json) {
    for (const auto& [field, path] : settings_.extract) {
      if (auto v = json_number(*json, path)) {
        r.samples.push_back({"vitals_http_json_value", {{"field", field}}, *v});
      } else {
        ev.emplace_back("extract " + field, path.text + " is not a number in the response");
      }
    }
  }

  auto fail = [&r](std::string reason, std::string error) {
    r.ok = false;
    r.reason = std::move(reason);
    r.error = std::move(error);
  };
  // A JSON or text body says why (a health payload); an HTML error page is
  // left to the evidence.
  std::string content_type;
  for (const auto& [name, value] : x.headers)
    if (name == "content-type") content_type = value;
  const bool readable = content_type.find("json") != std::string::npos ||
                        content_type.rfind("text/plain", 0) == 0 || (content_type.empty() && x.body.size() < 200);
  const std::string excerpt = readable ? redact(body_excerpt(x.body, body_in_error_bytes), secrets_) : std::string();
  if (too_many_redirects) {
    fail("redirects", "more than " + std::to_string(settings_.max_redirects) + " redirects (last to " + x.location + ")");
  } else if (!expected_status(settings_.expect_status, x.status)) {
    std::string text = x.status_line.substr(x.status_line.find(' ') + 1);
    if (x.status == 429) {
      fail("rate_limited", text + (x.retry_after.empty() ? "" : " (Retry-After: " + x.retry_after + ")"));
    } else if (x.status == 503) {
      fail("unavailable", text + (excerpt.empty() ? "" : ": " + excerpt));
    } else {
      fail("status", "status " + text + ", expected " + expected_text(settings_.expect_status) +
                         (excerpt.empty() ? "" : ": " + excerpt));
    }
  } else if (x.too_large) {
    fail("too_large", "response body larger than " + format_bytes(static_cast<double>(settings_.max_body_bytes)));
  } else if (settings_.max_response && clock::duration(std::chrono::duration_cast<clock::duration>(
                                            std::chrono::duration<double>(total))) > *settings_.max_response) {
    fail("slow", "answered in " + format_seconds(total) + ", slower than " +
                     format_seconds(std::chrono::duration<double>(*settings_.max_response).count()));
  } else if (!json_error.empty()) {
    fail("bad_json", json_error + (excerpt.empty() ? "" : ": " + excerpt));
  } else if (settings_.expect_json && json) {
    if (auto m = json_subset_mismatch(*settings_.expect_json, *json); !m.empty())
      fail("body_mismatch", "JSON " + m);
  }
  if (r.ok && settings_.body_regex && !settings_.body_regex->matches(x.body))
    fail("body_mismatch", "body does not match /" + settings_.expect_body_regex + "/" +
                              (excerpt.empty() ? "" : ": " + excerpt));
  co_return r;
}

}  // namespace vitals
