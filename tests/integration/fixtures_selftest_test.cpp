// The test fixtures themselves, against plain blocking Beast clients: every
// WebSocket mode, every HTTP route, the throwaway CA, and the Python
// WebSocket peer. If one of these fails, the probe tests built on the
// fixture prove nothing.

#include "fixtures/http_fixture_server.hpp"
#include "fixtures/ws_fixture_server.hpp"
#include "support/temp_env.hpp"
#include "support/test_ca.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace vitals {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using test::http_fixture_options;
using test::http_fixture_server;
using test::ws_fixture_options;
using test::ws_fixture_server;
using test::ws_mode;
using namespace std::chrono_literals;

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::make_address("127.0.0.1"), port}; }

// Polls `done` until it holds or `limit` passes: for counters the server
// updates on its own thread just after the client saw the effect.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(2ms);
  return done();
}

// True when nothing arrives on `fd` within `limit`: for the modes that must
// stay silent. A lower bound only; it cannot flake the wrong way.
bool silent_for(int fd, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(limit.count())) == 0;
}

std::string host_of(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A blocking WebSocket client on 127.0.0.1.
class ws_client {
public:
  explicit ws_client(std::uint16_t port) : port_(port) { ws_.next_layer().connect(loopback(port)); }

  // The upgrade; `decorate` adds request headers.
  beast::error_code handshake(const std::function<void(websocket::request_type&)>& decorate = {}) {
    if (decorate) ws_.set_option(websocket::stream_base::decorator(decorate));
    beast::error_code ec;
    ws_.handshake(response_, host_of(port_), "/ws", ec);
    return ec;
  }
  const websocket::response_type& response() const { return response_; }

  void send(std::string_view text) {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }
  std::string receive() {
    beast::flat_buffer buffer;
    ws_.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }
  beast::error_code receive_error() {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws_.read(buffer, ec);
    return ec;
  }

  websocket::stream<tcp::socket>& stream() { return ws_; }
  int fd() { return ws_.next_layer().native_handle(); }

private:
  asio::io_context io_;
  std::uint16_t port_;
  websocket::stream<tcp::socket> ws_{io_};
  websocket::response_type response_;
};

// One request on a fresh connection, body of any size.
template <class Stream>
http::response<http::string_body> exchange(Stream& stream, http::request<http::string_body>& req) {
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  http::read(stream, buffer, parser);
  return parser.release();
}

http::request<http::string_body> make_request(std::uint16_t port, const std::string& target,
                                              http::verb method = http::verb::get) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, host_of(port));
  req.set(http::field::user_agent, "fixtures-selftest");
  return req;
}

http::response<http::string_body> http_get(std::uint16_t port, const std::string& target) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(loopback(port));
  auto req = make_request(port, target);
  return exchange(socket, req);
}

// A client context that trusts only `ca_file` and checks the name "localhost".
ssl::context client_context(const std::string& ca_file) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(ssl::verify_peer);
  return ctx;
}

void tls_handshake_as_localhost(ssl::stream<tcp::socket>& stream) {
  ::SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
  stream.set_verify_callback(ssl::host_name_verification("localhost"));
  stream.handshake(ssl::stream_base::client);
}

bool is_json(const std::string& text) {
  beast::error_code ec;
  boost::json::parse(text, ec);
  return !ec;
}

// --- WebSocket fixture ------------------------------------------------------

TEST(fixture_ws, pong_mode_answers_ping_with_pong_and_echoes_id) {
  ws_fixture_server server;
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());

  client.send(R"({"type":"ping","id":42})");
  EXPECT_EQ(client.receive(), R"({"type":"pong","id":42})");
  client.stream().close(websocket::close_code::normal);

  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.handshakes(), 1);
  EXPECT_EQ(server.messages_received(), 1);
  EXPECT_TRUE(eventually([&] { return server.close_codes_received() == std::vector<int>{1000}; }));
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 0; }));
  EXPECT_EQ(server.url(), "ws://127.0.0.1:" + std::to_string(server.port()) + "/ws");
}

TEST(fixture_ws, pong_mode_answers_protocol_pings_and_ignores_other_messages) {
  ws_fixture_server server;
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());
  bool control_pong = false;
  client.stream().control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::pong) control_pong = true;
  });

  client.stream().ping("");
  client.send("not json");
  client.send(R"({"type":"hello"})");
  client.send(R"({"type":"ping"})");
  EXPECT_EQ(client.receive(), R"({"type":"pong"})");  // the control pong came before it
  EXPECT_TRUE(control_pong);
  EXPECT_EQ(server.messages_received(), 3);
}

TEST(fixture_ws, late_pong_waits_the_delay_first) {
  ws_fixture_server server({.mode = ws_mode::late_pong, .delay = 100ms});
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());

  const auto start = std::chrono::steady_clock::now();
  client.send(R"({"type":"ping"})");
  EXPECT_EQ(client.receive(), R"({"type":"pong"})");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
}

TEST(fixture_ws, wrong_then_pong_sends_two_other_messages_first) {
  ws_fixture_server server({.mode = ws_mode::wrong_then_pong});
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());

  client.send(R"({"type":"ping","id":"a"})");
  EXPECT_EQ(client.receive(), R"({"type":"broadcast","n":1})");
  EXPECT_EQ(client.receive(), R"({"type":"news"})");
  EXPECT_EQ(client.receive(), R"({"type":"pong","id":"a"})");
}

TEST(fixture_ws, never_answer_upgrades_then_stays_silent) {
  ws_fixture_server server({.mode = ws_mode::never_answer});
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());

  client.stream().ping("");
  client.send(R"({"type":"ping"})");
  EXPECT_TRUE(silent_for(client.fd(), 200ms));
  EXPECT_EQ(server.handshakes(), 1);
  EXPECT_EQ(server.open_connections(), 1);
}  // the server stops with the connection still open

TEST(fixture_ws, require_token_refuses_the_upgrade_without_the_token_with_401) {
  ws_fixture_server server({.mode = ws_mode::require_token});
  ws_client client(server.port());

  EXPECT_EQ(client.handshake(), websocket::error::upgrade_declined);
  EXPECT_EQ(client.response().result(), http::status::unauthorized);
  EXPECT_EQ(server.handshakes(), 0);
}

TEST(fixture_ws, require_token_upgrades_with_the_bearer_token) {
  ws_fixture_server server({.mode = ws_mode::require_token, .token = "t0k3n"});
  ws_client client(server.port());

  ASSERT_FALSE(client.handshake([](websocket::request_type& req) {
    req.set(http::field::authorization, "Bearer t0k3n");
    req.set("X-Extra", "yes");
  }));
  client.send(R"({"type":"ping"})");
  EXPECT_EQ(client.receive(), R"({"type":"pong"})");
  const auto headers = server.last_request_headers();
  EXPECT_EQ(headers.at("authorization"), "Bearer t0k3n");
  EXPECT_EQ(headers.at("x-extra"), "yes");
  EXPECT_EQ(headers.at("upgrade"), "websocket");
}

TEST(fixture_ws, require_origin_refuses_other_origins_with_403) {
  ws_fixture_server server({.mode = ws_mode::require_origin});
  ws_client client(server.port());

  EXPECT_EQ(client.handshake([](websocket::request_type& req) { req.set(http::field::origin, "http://evil"); }),
            websocket::error::upgrade_declined);
  EXPECT_EQ(client.response().result(), http::status::forbidden);
}

TEST(fixture_ws, require_origin_upgrades_with_the_origin) {
  ws_fixture_server server({.mode = ws_mode::require_origin});
  ws_client client(server.port());

  EXPECT_FALSE(
      client.handshake([](websocket::request_type& req) { req.set(http::field::origin, "http://localhost:3000"); }));
  EXPECT_EQ(server.handshakes(), 1);
}

TEST(fixture_ws, hang_handshake_accepts_and_never_answers) {
  ws_fixture_server server({.mode = ws_mode::hang_handshake});
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(loopback(server.port()));
  const std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  asio::write(socket, asio::buffer(upgrade));

  EXPECT_TRUE(silent_for(socket.native_handle(), 200ms));
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.handshakes(), 0);
}

TEST(fixture_ws, oversized_frame_sends_one_message_of_the_configured_size) {
  ws_fixture_server server({.mode = ws_mode::oversized_frame, .oversized_bytes = 100 * 1024});
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());

  client.send(R"({"type":"ping"})");
  const auto message = client.receive();
  EXPECT_EQ(message.size(), 100u * 1024);
  EXPECT_TRUE(is_json(message));
}

TEST(fixture_ws, close_abruptly_drops_tcp_without_a_close_frame) {
  ws_fixture_server server({.mode = ws_mode::close_abruptly});
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());

  client.send(R"({"type":"ping"})");
  const auto ec = client.receive_error();
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, websocket::error::closed);
}

TEST(fixture_ws, not_websocket_answers_200_hello) {
  ws_fixture_server server({.mode = ws_mode::not_websocket});
  ws_client client(server.port());

  EXPECT_EQ(client.handshake(), websocket::error::upgrade_declined);
  EXPECT_EQ(client.response().result(), http::status::ok);
  EXPECT_EQ(client.response().body(), "hello");
}

TEST(fixture_ws, bad_accept_key_fails_the_client_check) {
  ws_fixture_server server({.mode = ws_mode::bad_accept_key});
  ws_client client(server.port());

  EXPECT_EQ(client.handshake(), websocket::error::bad_sec_accept);
}

TEST(fixture_ws, server_error_answers_500) {
  ws_fixture_server server({.mode = ws_mode::server_error});
  ws_client client(server.port());

  EXPECT_EQ(client.handshake(), websocket::error::upgrade_declined);
  EXPECT_EQ(client.response().result(), http::status::internal_server_error);
}

TEST(fixture_ws, not_found_answers_404) {
  ws_fixture_server server({.mode = ws_mode::not_found});
  ws_client client(server.port());

  EXPECT_EQ(client.handshake(), websocket::error::upgrade_declined);
  EXPECT_EQ(client.response().result(), http::status::not_found);
}

TEST(fixture_ws, close_normally_pongs_then_closes_with_going_away) {
  ws_fixture_server server({.mode = ws_mode::close_normally});
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());

  client.send(R"({"type":"ping"})");
  EXPECT_EQ(client.receive(), R"({"type":"pong"})");
  EXPECT_EQ(client.receive_error(), websocket::error::closed);
  EXPECT_EQ(client.stream().reason().code, websocket::close_code::going_away);
  EXPECT_TRUE(eventually([&] { return server.close_codes_received() == std::vector<int>{1001}; }));
}

TEST(fixture_ws, subprotocol_is_selected_when_offered) {
  ws_fixture_server server({.subprotocol = "vitals.v1"});
  ws_client client(server.port());

  ASSERT_FALSE(client.handshake(
      [](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, "other, vitals.v1"); }));
  EXPECT_EQ(client.response()[http::field::sec_websocket_protocol], "vitals.v1");
}

TEST(fixture_ws, drop_all_closes_live_connections_without_a_close_frame) {
  ws_fixture_server server;
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());
  ASSERT_EQ(server.open_connections(), 1);

  server.drop_all();
  const auto ec = client.receive_error();
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, websocket::error::closed);
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 0; }));
}

TEST(fixture_ws, set_mode_applies_to_the_next_message) {
  ws_fixture_server server;
  ws_client client(server.port());
  ASSERT_FALSE(client.handshake());
  client.send(R"({"type":"ping"})");
  EXPECT_EQ(client.receive(), R"({"type":"pong"})");

  server.set_mode(ws_mode::wrong_then_pong);
  client.send(R"({"type":"ping"})");
  EXPECT_EQ(client.receive(), R"({"type":"broadcast","n":1})");
}

TEST(fixture_ws, wss_verifies_with_the_test_ca_as_localhost) {
  const auto ca = test::test_ca::make();
  test::temp_dir dir;
  ws_fixture_server server({.tls = ca.server});
  EXPECT_EQ(server.url("/x"), "wss://127.0.0.1:" + std::to_string(server.port()) + "/x");

  auto ctx = client_context(ca.write_ca_file(dir.path()));
  asio::io_context io;
  websocket::stream<ssl::stream<tcp::socket>> ws(io, ctx);
  ws.next_layer().next_layer().connect(loopback(server.port()));
  tls_handshake_as_localhost(ws.next_layer());
  ws.handshake("localhost:" + std::to_string(server.port()), "/ws");
  ws.text(true);
  ws.write(asio::buffer(std::string_view(R"({"type":"ping","id":1})")));
  beast::flat_buffer buffer;
  ws.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), R"({"type":"pong","id":1})");
}

// A child process: the script under /usr/bin/python3 (Debian's, where
// python3-websockets lives), its stdout on a pipe; killed and reaped on
// destruction.
class python_pong_server {
public:
  python_pong_server() {
    const auto script = std::filesystem::path(VITALS_TEST_FIXTURES_DIR) / "ws_pong_server.py";
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], STDOUT_FILENO);
      ::execl("/usr/bin/python3", "python3", script.c_str(), "0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_ = out[0];
  }
  ~python_pong_server() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(stdout_);
  }
  python_pong_server(const python_pong_server&) = delete;
  python_pong_server& operator=(const python_pong_server&) = delete;

  // The port from the "PORT n" line; 0 when none came within `limit`.
  std::uint16_t wait_for_port(std::chrono::milliseconds limit = 10s) {
    std::string line;
    const auto until = std::chrono::steady_clock::now() + limit;
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      pollfd p{stdout_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return 0;
      char c[64];
      const auto n = ::read(stdout_, c, sizeof c);
      if (n <= 0) return 0;
      line.append(c, static_cast<std::size_t>(n));
    }
    unsigned port = 0;
    if (std::sscanf(line.c_str(), "PORT %u", &port) != 1) return 0;
    return static_cast<std::uint16_t>(port);
  }

private:
  pid_t pid_ = -1;
  int stdout_ = -1;
};

TEST(fixture_ws, python_pong_server_answers_ping_with_pong) {
  python_pong_server peer;
  const auto port = peer.wait_for_port();
  ASSERT_NE(port, 0) << "ws_pong_server.py printed no PORT line (is python3-websockets installed?)";
  ws_client client(port);
  ASSERT_FALSE(client.handshake());

  client.send("not json");
  client.send(R"({"type":"ping","id":7})");
  EXPECT_TRUE(is_json(client.receive()));  // {"type": "pong", "id": 7}, Python's spacing
  client.stream().close(websocket::close_code::normal);
}

// --- HTTP fixture -----------------------------------------------------------

TEST(fixture_http, health_returns_the_healthy_json) {
  http_fixture_server server;
  const auto res = http_get(server.port(), "/health");

  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  const auto body = boost::json::parse(res.body());
  EXPECT_EQ(body.at("status"), "healthy");
  EXPECT_EQ(body.at("metrics").at("activeConnections"), 7);
  EXPECT_EQ(body.at("version"), "1.4.2");
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(server.last_request_method(), "GET");
  EXPECT_EQ(server.url("/health"), "http://127.0.0.1:" + std::to_string(server.port()) + "/health");
}

TEST(fixture_http, health_ready_returns_503_unhealthy_json) {
  http_fixture_server server;
  const auto res = http_get(server.port(), "/health/ready");

  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_EQ(boost::json::parse(res.body()).at("database"), "disconnected");
}

TEST(fixture_http, limited_returns_429_with_retry_after) {
  http_fixture_server server;
  const auto res = http_get(server.port(), "/limited");

  EXPECT_EQ(res.result(), http::status::too_many_requests);
  EXPECT_EQ(res[http::field::retry_after], "30");
  EXPECT_EQ(res.body(), "Too Many Requests");
}

TEST(fixture_http, bad_json_is_truncated_json) {
  http_fixture_server server;
  const auto res = http_get(server.port(), "/bad-json");

  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_FALSE(is_json(res.body()));
}

TEST(fixture_http, slow_answers_after_the_delay) {
  http_fixture_server server({.slow = 100ms});
  const auto start = std::chrono::steady_clock::now();
  const auto res = http_get(server.port(), "/slow");

  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_EQ(res.body(), R"({"status":"healthy"})");
}

TEST(fixture_http, slow_body_sends_headers_then_json_in_chunks) {
  http_fixture_server server({.slow = 100ms});
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(loopback(server.port()));
  auto req = make_request(server.port(), "/slow-body");
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  const auto start = std::chrono::steady_clock::now();
  http::read_header(socket, buffer, parser);
  EXPECT_TRUE(parser.get().chunked());
  http::read(socket, buffer, parser);

  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_EQ(boost::json::parse(parser.get().body()).at("status"), "healthy");
}

TEST(fixture_http, huge_sends_the_configured_size_with_content_length) {
  http_fixture_server server({.huge_bytes = 3 * 1024 * 1024});
  const auto res = http_get(server.port(), "/huge");

  EXPECT_EQ(res[http::field::content_length], std::to_string(3 * 1024 * 1024));
  EXPECT_EQ(res.body().size(), 3u * 1024 * 1024);
  EXPECT_EQ(res.body().find_first_not_of('a'), std::string::npos);
}

TEST(fixture_http, redirect_is_302_to_health) {
  http_fixture_server server;
  const auto res = http_get(server.port(), "/redirect");

  EXPECT_EQ(res.result(), http::status::found);
  EXPECT_EQ(res[http::field::location], "/health");
}

TEST(fixture_http, redirect_loop_redirects_to_itself) {
  http_fixture_server server;
  const auto res = http_get(server.port(), "/redirect-loop");

  EXPECT_EQ(res.result(), http::status::found);
  EXPECT_EQ(res[http::field::location], "/redirect-loop");
}

TEST(fixture_http, echo_returns_method_headers_and_body) {
  http_fixture_server server;
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(loopback(server.port()));
  auto req = make_request(server.port(), "/echo?x=1", http::verb::post);
  req.set("X-Probe", "vitals");
  req.body() = "hello body";
  const auto res = exchange(socket, req);

  const auto echo = boost::json::parse(res.body());
  EXPECT_EQ(echo.at("method"), "POST");
  EXPECT_EQ(echo.at("headers").at("x-probe"), "vitals");
  EXPECT_EQ(echo.at("body"), "hello body");
  EXPECT_EQ(server.last_request_method(), "POST");
  EXPECT_EQ(server.last_request_body(), "hello body");
  EXPECT_EQ(server.last_request_headers().at("x-probe"), "vitals");
}

TEST(fixture_http, status_route_answers_that_status) {
  http_fixture_server server;
  const auto teapot = http_get(server.port(), "/status/418");
  const auto empty = http_get(server.port(), "/status/204");

  EXPECT_EQ(teapot.result_int(), 418u);
  EXPECT_EQ(teapot.body(), "status 418");
  EXPECT_EQ(empty.result_int(), 204u);
  EXPECT_EQ(empty.body(), "");
}

TEST(fixture_http, text_and_unknown_routes) {
  http_fixture_server server;
  const auto text = http_get(server.port(), "/text");
  const auto missing = http_get(server.port(), "/nope");

  EXPECT_EQ(text[http::field::content_type], "text/plain");
  EXPECT_EQ(text.body(), "OK: all systems go");
  EXPECT_EQ(missing.result(), http::status::not_found);
}

TEST(fixture_http, keep_alive_serves_requests_on_one_connection) {
  http_fixture_server server;
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(loopback(server.port()));
  auto first = make_request(server.port(), "/text");
  auto second = make_request(server.port(), "/health");

  EXPECT_EQ(exchange(socket, first).body(), "OK: all systems go");
  EXPECT_EQ(exchange(socket, second).result(), http::status::ok);
  EXPECT_EQ(server.requests(), 2);
}

TEST(fixture_http, hang_reads_the_request_and_never_answers) {
  http_fixture_server server;
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(loopback(server.port()));
  auto req = make_request(server.port(), "/hang");
  http::write(socket, req);

  EXPECT_TRUE(eventually([&] { return server.requests() == 1; }));
  EXPECT_TRUE(silent_for(socket.native_handle(), 200ms));
}  // the server stops with the request unanswered

TEST(fixture_http, https_verifies_with_the_test_ca_as_localhost) {
  const auto ca = test::test_ca::make();
  test::temp_dir dir;
  http_fixture_server server({.tls = ca.server});
  EXPECT_EQ(server.url("/health"), "https://127.0.0.1:" + std::to_string(server.port()) + "/health");

  auto ctx = client_context(ca.write_ca_file(dir.path()));
  asio::io_context io;
  ssl::stream<tcp::socket> stream(io, ctx);
  stream.next_layer().connect(loopback(server.port()));
  tls_handshake_as_localhost(stream);
  auto req = make_request(server.port(), "/health");
  const auto res = exchange(stream, req);

  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(boost::json::parse(res.body()).at("status"), "healthy");
}

TEST(fixture_http, https_is_refused_by_a_client_that_does_not_trust_the_ca) {
  const auto ca = test::test_ca::make();
  const auto other = test::test_ca::make();
  test::temp_dir dir;
  http_fixture_server server({.tls = ca.server});

  auto ctx = client_context(other.write_ca_file(dir.path()));
  asio::io_context io;
  ssl::stream<tcp::socket> stream(io, ctx);
  stream.next_layer().connect(loopback(server.port()));
  ::SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
  beast::error_code ec;
  stream.handshake(ssl::stream_base::client, ec);

  EXPECT_TRUE(ec);
}

// --- Test CA ----------------------------------------------------------------

struct x509_deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

x509_ptr read_certificate(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return x509_ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

TEST(fixture_ca, server_certificate_chains_to_the_ca_for_localhost_and_127_0_0_1) {
  const auto ca = test::test_ca::make();
  const auto ca_cert = read_certificate(ca.ca_cert_pem);
  const auto server_cert = read_certificate(ca.server.cert_pem);
  ASSERT_TRUE(ca_cert);
  ASSERT_TRUE(server_cert);

  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  X509_STORE_add_cert(store.get(), ca_cert.get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), server_cert.get(), nullptr);
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_X509_STRICT);
  EXPECT_EQ(X509_verify_cert(ctx.get()), 1) << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  EXPECT_EQ(X509_check_host(server_cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server_cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ca(ca_cert.get()), 1);
  EXPECT_EQ(X509_check_ca(server_cert.get()), 0);
}

TEST(fixture_ca, each_make_has_fresh_keys) {
  const auto first = test::test_ca::make();
  const auto second = test::test_ca::make();

  EXPECT_NE(first.ca_cert_pem, second.ca_cert_pem);
  EXPECT_NE(first.server.key_pem, second.server.key_pem);
  EXPECT_NE(first.server.key_pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
}

TEST(fixture_ca, write_ca_file_writes_the_ca_pem) {
  const auto ca = test::test_ca::make();
  test::temp_dir dir;
  const auto path = ca.write_ca_file(dir.path());

  EXPECT_EQ(path, dir.path() + "/ca.pem");
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), ca.ca_cert_pem);
}

}  // namespace
}  // namespace vitals
