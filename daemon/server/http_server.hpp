#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vitals {

namespace asio = boost::asio;
class web_security;

// Beast stays inside http_server.cpp; handlers see these plain types.
struct http_request {
  std::string method;  // "GET", "POST", …
  std::string target;  // path and query, e.g. "/metrics"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order

  // The first header of that name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

struct http_response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set by a handler that answers later (a reload loads off the loop): the
  // server calls it with a function taking the final response, and writes
  // that response when it is called. Both on the loop thread.
  std::function<void(std::function<void(http_response)> reply)> deferred;

  static http_response text(unsigned status, std::string body) {
    return http_response{status, "text/plain; charset=utf-8", std::move(body) + "\n", {}, {}};
  }
};

using http_handler = std::function<http_response(const http_request&)>;

// Who may hold a connection, and for how long. A connection is waiting
// while it is idle or still sending its request, and answering from the
// moment a complete request has been read until its response is written.
// Waiting connections can be evicted; answering ones never are, nor one
// whose complete request header has arrived and waits to be read.
struct http_limits {
  int max_connections = 64;  // at the limit a new connection evicts the oldest waiting one
  std::chrono::milliseconds request_timeout{10'000};  // whole request from its first byte (slowloris)
  std::uint64_t max_request_bytes = 64 * 1024;        // body; headers are capped at 8 KiB
  std::chrono::milliseconds idle_timeout{5'000};      // for the first byte of each request, kept-alive or new
  int max_connections_per_client = 0;                 // 0: half of max_connections; see client_of()
};

// Called once for each connection the server closes against the client's
// will, with the reason: "evicted" (closed while waiting, to admit a newer
// one), "refused" (at a limit with every connection answering),
// "idle_timeout" (no request begun within idle_timeout),
// "request_timeout" (a request, or its response, not done within
// request_timeout) or "tls_handshake" (the TLS handshake failed or did not
// finish within request_timeout). On the loop thread.
using connection_drop_hook = std::function<void(std::string_view reason)>;

// Called once for each request refused before its handler saw it, with
// the reason: "missing_credentials" and "wrong_credentials" (401),
// "auth_busy" (503: too many password checks already queued) or
// "rate_limited" (429, the web config's rate_limit). On the loop thread.
using request_refusal_hook = std::function<void(std::string_view reason)>;

// The client an address counts as for max_connections_per_client: every
// loopback address is one client (a local user can pick any 127.x source
// address), an IPv6 address counts as its /64 (what one host is given), an
// IPv4-mapped IPv6 address as its IPv4 address.
asio::ip::address client_of(const asio::ip::address& peer);

// At most one log line per interval, and how many were held back in
// between. Pure: the caller passes the time.
class log_throttle {
public:
  explicit log_throttle(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  // Engaged when a line may be written now, with how many were held back
  // since the last one.
  std::optional<std::uint64_t> admit(std::chrono::steady_clock::time_point now);

private:
  std::chrono::steady_clock::duration interval_;
  std::optional<std::chrono::steady_clock::time_point> last_;
  std::uint64_t held_back_ = 0;
};

// HTTP/1.1 server on the loop, optionally over TLS: one coroutine per
// connection, keep-alive, every read and write under a deadline. Every
// response carries default_security_headers() (web_security.hpp).
// Passwords are checked with bcrypt on the server's own thread, never on
// the loop. Malformed requests get 400, too
// large ones 413/431. Clients that connect and send nothing, or trickle a
// request, cannot lock others out: when the server or one client is at its
// connection limit, a new connection evicts the oldest waiting connection
// (of that client, when it is the client at its limit) and is refused only
// when every candidate is being answered. A local Prometheus therefore gets
// in even when the flood is local too. Loop thread only.
class http_server {
public:
  http_server(asio::io_context& io, http_handler handler, http_limits limits, connection_drop_hook on_drop = {});
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds "host:port" ("127.0.0.1:9273", "[::1]:9273", "localhost:0") and
  // starts accepting. Returns the bound endpoint (port 0 picks a free port).
  // Throws boost::system::system_error / std::invalid_argument when it cannot.
  asio::ip::tcp::endpoint listen(const std::string& host_port);

  // What connections accepted from now on get: TLS, basic auth, headers
  // and rate limit from a web config; null for plain HTTP without
  // credentials. Open connections keep what they were accepted with.
  void secure(std::shared_ptr<const web_security> security);
  std::shared_ptr<const web_security> security() const;
  void on_refusal(request_refusal_hook hook);

  // Stops accepting and closes every open connection.
  void stop();

  // Open connections, not counting evicted ones still winding down.
  std::size_t connections() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace vitals
