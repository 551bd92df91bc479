#include "daemon/server/http_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <thread>

using namespace vitals;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

namespace {

// The server on its own loop thread; the test talks to it with blocking
// sockets from the test thread, as any HTTP client would.
class server_fixture : public ::testing::Test {
protected:
  void start(http_limits limits = {}) {
    server_ = std::make_unique<http_server>(io_, [](const http_request& r) {
      if (r.target == "/echo") return http_response{200, "text/plain", r.method + " " + r.body, {}};
      if (r.target == "/boom") throw std::runtime_error("handler failed");
      return http_response::text(404, "not found");
    }, limits);
    endpoint_ = server_->listen("127.0.0.1:0");
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    asio::post(io_, [this] { server_->stop(); io_.stop(); });
    if (thread_.joinable()) thread_.join();
  }

  tcp::socket connect() {
    tcp::socket s(client_io_);
    s.connect(endpoint_);
    timeval tv{10, 0};  // a safety net: a test that waits 10 s has failed anyway
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
  }

  // Sends raw bytes and reads until the server closes the connection.
  std::string exchange(const std::string& raw) {
    auto s = connect();
    asio::write(s, asio::buffer(raw));
    return read_all(s);
  }

  static std::string read_all(tcp::socket& s) {
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
  }

  asio::io_context io_;
  asio::io_context client_io_;
  std::unique_ptr<http_server> server_;
  tcp::endpoint endpoint_;
  std::thread thread_;
};

}  // namespace

TEST_F(server_fixture, answers_a_request_and_binds_an_ephemeral_port) {
  start();
  EXPECT_NE(endpoint_.port(), 0);
  const auto reply = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("\r\n\r\nPOST hi"), std::string::npos);
}

TEST_F(server_fixture, garbage_gets_400) {
  start();
  const auto reply = exchange("HELLO THERE\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
}

TEST_F(server_fixture, oversized_body_gets_413) {
  start({.max_connections = 8, .request_timeout = 10s, .max_request_bytes = 16});
  const auto reply = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
}

TEST_F(server_fixture, handler_exception_gets_500_and_server_keeps_serving) {
  start();
  EXPECT_EQ(exchange("GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 500", 0), 0u);
  EXPECT_EQ(exchange("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(server_fixture, keep_alive_serves_several_requests_on_one_connection) {
  start();
  auto s = connect();
  const std::string req = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(s, asio::buffer(req + req + "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const auto replies = read_all(s);
  std::size_t count = 0;
  for (auto pos = replies.find("HTTP/1.1 200"); pos != std::string::npos; pos = replies.find("HTTP/1.1 200", pos + 1))
    ++count;
  EXPECT_EQ(count, 3u) << replies;
}

TEST_F(server_fixture, slow_client_is_cut_off_at_the_request_timeout) {
  start({.max_connections = 8, .request_timeout = 200ms, .max_request_bytes = 1024});
  auto s = connect();
  asio::write(s, asio::buffer(std::string("GET /echo HTTP/1.1\r\nHost: x\r\n")));  // never finishes the header
  const auto started = std::chrono::steady_clock::now();
  const auto reply = read_all(s);  // returns when the server closes
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(reply.find("200"), std::string::npos);
  EXPECT_LT(waited, 9s);  // closed by the server, not by our 10 s safety net
}

TEST_F(server_fixture, connections_over_the_limit_are_closed_while_others_are_served) {
  start({.max_connections = 2, .request_timeout = 10s, .max_request_bytes = 1024});
  auto a = connect();
  auto b = connect();
  // Make sure both are accepted before the third arrives.
  const std::string req = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
  for (auto* s : {&a, &b}) {
    asio::write(*s, asio::buffer(req));
    char buf[256];
    ASSERT_GT(s->read_some(asio::buffer(buf)), 0u);
  }
  auto c = connect();
  boost::system::error_code ec;
  asio::write(c, asio::buffer(req), ec);
  const auto third = read_all(c);
  EXPECT_EQ(third.find("HTTP/1.1"), std::string::npos);  // closed without an answer
  asio::write(a, asio::buffer(std::string("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  EXPECT_EQ(read_all(a).rfind("HTTP/1.1 200", 0), 0u);
}

TEST(http_server, listen_rejects_an_address_without_port) {
  asio::io_context io;
  http_server s(io, [](const http_request&) { return http_response{}; }, {});
  EXPECT_THROW(s.listen("127.0.0.1"), std::invalid_argument);
}

TEST(http_server, listen_on_a_taken_port_throws) {
  asio::io_context io;
  tcp::acceptor taken(io, {asio::ip::make_address("127.0.0.1"), 0});
  http_server s(io, [](const http_request&) { return http_response{}; }, {});
  EXPECT_THROW(s.listen("127.0.0.1:" + std::to_string(taken.local_endpoint().port())), boost::system::system_error);
}
