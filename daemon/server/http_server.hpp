#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vitals {

namespace asio = boost::asio;

// Beast stays inside http_server.cpp; handlers see these plain types.
struct http_request {
  std::string method;  // "GET", "POST", …
  std::string target;  // path and query, e.g. "/metrics"
  std::string body;
};

struct http_response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static http_response text(unsigned status, std::string body) {
    return http_response{status, "text/plain; charset=utf-8", std::move(body) + "\n", {}};
  }
};

using http_handler = std::function<http_response(const http_request&)>;

struct http_limits {
  int max_connections = 64;                       // more are closed at once
  std::chrono::milliseconds request_timeout{10'000};  // whole request, header and body (slowloris)
  std::uint64_t max_request_bytes = 64 * 1024;    // body; headers are capped at 8 KiB
};

// HTTP/1.1 server on the loop: one coroutine per connection, keep-alive,
// every read and write under a deadline. Malformed requests get 400, too
// large ones 413/431. Loop thread only.
class http_server {
public:
  http_server(asio::io_context& io, http_handler handler, http_limits limits);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds "host:port" ("127.0.0.1:9273", "[::1]:9273", "localhost:0") and
  // starts accepting. Returns the bound endpoint (port 0 picks a free port).
  // Throws boost::system::system_error / std::invalid_argument when it cannot.
  asio::ip::tcp::endpoint listen(const std::string& host_port);

  // Stops accepting and closes every open connection.
  void stop();

  std::size_t connections() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace vitals
