#include "daemon/server/http_server.hpp"

#include "probes/net/host_addresses.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <spdlog/spdlog.h>

#include <list>
#include <stdexcept>

namespace vitals {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// "host:port" with IPv6 in brackets; the host may be a name (resolved once,
// at start, before the loop serves anything).
tcp::endpoint resolve_listen(asio::io_context& io, const std::string& text) {
  std::string problem;
  const auto parsed = parse_host_port(text, problem);
  if (!parsed) throw std::invalid_argument("listen address \"" + text + "\": " + problem);
  tcp::resolver resolver(io);
  auto results = resolver.resolve(parsed->host, std::to_string(parsed->port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
  if (results.empty()) throw std::invalid_argument("listen address \"" + text + "\" did not resolve");
  return results.begin()->endpoint();
}

}  // namespace

struct http_server::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, http_handler handler, http_limits limits)
      : io_(io), acceptor_(io), handler_(std::move(handler)), limits_(limits) {}

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (acceptor_.is_open()) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) {
        // EMFILE and friends: say so and keep accepting; the loop must live on.
        spdlog::warn("http: accept failed: {}", ec.message());
        asio::steady_timer pause(io_, std::chrono::milliseconds(50));
        co_await pause.async_wait(use_tuple);
        continue;
      }
      if (static_cast<int>(sessions_.size()) >= limits_.max_connections) {
        ++refused_;
        boost::system::error_code ignored;
        socket.close(ignored);  // over the limit: closed at once, costs nothing to keep
        continue;
      }
      sessions_.emplace_front(std::move(socket));
      asio::co_spawn(io_, session(sessions_.begin()), asio::detached);
    }
  }

  http_response dispatch(const http::request<http::string_body>& req) {
    http_request r{std::string(req.method_string()), std::string(req.target()), req.body()};
    try {
      return handler_(r);
    } catch (const std::exception& ex) {
      spdlog::error("http: handler for {} {} failed: {}", r.method, r.target, ex.what());
      return http_response::text(500, "internal error");
    }
  }

  // Sends one response under the request deadline; the error, if any, ends the connection.
  asio::awaitable<boost::system::error_code> write(beast::tcp_stream& stream, const http_response& out,
                                                   unsigned version, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(out.status), version};
    res.set(http::field::server, "vitalsd");
    res.set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : out.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = out.body;
    res.prepare_payload();
    stream.expires_after(limits_.request_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    co_return ec;
  }

  asio::awaitable<void> session(std::list<beast::tcp_stream>::iterator it) {
    auto self = shared_from_this();
    beast::tcp_stream& stream = *it;
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(8 * 1024);
      parser.body_limit(limits_.max_request_bytes);
      // One deadline for the whole request: a client trickling bytes
      // (slowloris) is cut off, as is an idle keep-alive connection.
      stream.expires_after(limits_.request_timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (ec) {
        unsigned status = 0;
        if (ec == http::error::body_limit) status = 413;
        else if (ec == http::error::header_limit) status = 431;
        else if (ec.category() == beast::http::make_error_code(http::error::end_of_stream).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message)
          status = 400;  // the client sent something that is not HTTP/1.x
        if (status != 0 && stream.socket().is_open())
          co_await write(stream, http_response::text(status, "bad request: " + ec.message()), 11, false);
        break;
      }
      const auto& req = parser.get();
      const bool keep_alive = req.keep_alive() && !stopping_;
      const auto out = dispatch(req);
      const auto written = co_await write(stream, out, req.version(), keep_alive);
      if (written || !keep_alive) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    sessions_.erase(it);
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  http_handler handler_;
  http_limits limits_;
  std::list<beast::tcp_stream> sessions_;  // open connections; a session erases its own
  std::uint64_t refused_ = 0;
  bool stopping_ = false;
};

http_server::http_server(asio::io_context& io, http_handler handler, http_limits limits)
    : impl_(std::make_shared<impl>(io, std::move(handler), limits)) {}

http_server::~http_server() { stop(); }

tcp::endpoint http_server::listen(const std::string& host_port) {
  auto endpoint = resolve_listen(impl_->io_, host_port);
  auto& a = impl_->acceptor_;
  a.open(endpoint.protocol());
  a.set_option(tcp::acceptor::reuse_address(true));
  a.bind(endpoint);
  a.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(impl_->io_, impl_->accept_loop(), asio::detached);
  return a.local_endpoint();
}

void http_server::stop() {
  impl_->stopping_ = true;
  boost::system::error_code ignored;
  impl_->acceptor_.close(ignored);
  for (auto& s : impl_->sessions_) s.socket().cancel(ignored);
}

std::size_t http_server::connections() const { return impl_->sessions_.size(); }

}  // namespace vitals
