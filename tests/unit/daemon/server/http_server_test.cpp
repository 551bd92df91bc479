#include "daemon/server/http_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

using namespace vitals;
using namespace std::chrono_literals;
using namespace std::string_literals;
using tcp = asio::ip::tcp;

namespace {

// More than any socket buffers hold: a client that does not read it keeps
// the server answering.
constexpr std::size_t big_body_bytes = 16 * 1024 * 1024;

// The server on its own loop thread; the test talks to it with blocking
// sockets from the test thread, as any HTTP client would.
class server_fixture : public ::testing::Test {
protected:
  void start(http_limits limits = {}) {
    server_ = std::make_unique<http_server>(io_, [this](const http_request& r) {
      if (r.target == "/echo") return http_response{200, "text/plain", r.method + " " + r.body, {}, {}};
      if (r.target == "/big") return http_response{200, "text/plain", std::string(big_body_bytes, 'x'), {}, {}};
      if (r.target == "/boom") throw std::runtime_error("handler failed");
      if (r.target == "/later") {
        http_response later;
        later.deferred = [this](std::function<void(http_response)> reply) { later_reply_ = std::move(reply); };
        return later;
      }
      return http_response::text(404, "not found");
    }, limits, [this](std::string_view reason) {
      std::lock_guard lock(drops_mutex_);
      ++drops_[std::string(reason)];
    });
    endpoint_ = server_->listen("127.0.0.1:0");
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    asio::post(io_, [this] { server_->stop(); io_.stop(); });
    if (thread_.joinable()) thread_.join();
  }

  // A receive buffer of `receive_buffer` bytes, when given, lets the test
  // stop taking a response early.
  tcp::socket connect(int receive_buffer = 0) {
    tcp::socket s(client_io_);
    s.open(tcp::v4());
    if (receive_buffer > 0) s.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
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

  // Open connections as the server counts them, read on its own thread.
  std::size_t open_connections() {
    std::promise<std::size_t> count;
    asio::post(io_, [&] { count.set_value(server_->connections()); });
    return count.get_future().get();
  }

  // Whether the server has asked /later's handler for its deferred response.
  bool later_asked() {
    std::promise<bool> asked;
    asio::post(io_, [&] { asked.set_value(static_cast<bool>(later_reply_)); });
    return asked.get_future().get();
  }

  void reply_later(http_response response) {
    asio::post(io_, [this, response = std::move(response)] { later_reply_(response); });
  }

  int drops(const std::string& reason) {
    std::lock_guard lock(drops_mutex_);
    return drops_[reason];
  }

  // Polls until `done` holds; the limit is a safety net, never what is asserted.
  static bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(2ms);
    return done();
  }

  // True once the server has closed `s`: a read sees end of file or a reset
  // (false after the 10 s safety net when it stays open).
  static bool closed_by_server(tcp::socket& s) {
    char byte;
    boost::system::error_code ec;
    while (!ec) s.read_some(asio::buffer(&byte, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

  // Blocks until the first byte of a response has arrived, without taking it.
  static bool response_started(tcp::socket& s) {
    char byte;
    return ::recv(s.native_handle(), &byte, 1, MSG_PEEK) == 1;
  }

  asio::io_context io_;
  asio::io_context client_io_;
  std::unique_ptr<http_server> server_;
  tcp::endpoint endpoint_;
  std::thread thread_;
  std::mutex drops_mutex_;
  std::map<std::string, int> drops_;  // reason -> connections dropped, from the hook
  std::function<void(http_response)> later_reply_;  // loop thread only
};

const std::string complete_get = "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

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

TEST_F(server_fixture, a_head_request_gets_the_length_without_the_body_and_the_connection_goes_on) {
  start();
  auto s = connect();
  asio::write(s, asio::buffer("HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n"s + complete_get));
  const auto replies = read_all(s);
  // "HEAD " would be the body: its length is announced, and the next bytes are the next response.
  EXPECT_EQ(replies.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << replies;
  EXPECT_NE(replies.find("Content-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n"), std::string::npos) << replies;
  EXPECT_TRUE(replies.ends_with("\r\n\r\nGET ")) << replies;
}

TEST_F(server_fixture, slow_client_is_cut_off_at_the_request_timeout_and_counted) {
  start({.max_connections = 8, .request_timeout = 200ms, .max_request_bytes = 1024});
  auto s = connect();
  asio::write(s, asio::buffer(std::string("GET /echo HTTP/1.1\r\nHost: x\r\n")));  // never finishes the header
  const auto started = std::chrono::steady_clock::now();
  const auto reply = read_all(s);  // returns when the server closes
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(reply.find("200"), std::string::npos);
  EXPECT_LT(waited, 9s);  // closed by the server, not by our 10 s safety net
  EXPECT_TRUE(eventually([&] { return drops("request_timeout") == 1; }));
}

TEST_F(server_fixture, idle_connection_is_closed_after_the_idle_timeout_and_counted) {
  start({.max_connections = 8, .request_timeout = 10s, .max_request_bytes = 1024, .idle_timeout = 100ms});
  auto s = connect();
  asio::write(s, asio::buffer(std::string("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string reply;
  asio::read_until(s, asio::dynamic_buffer(reply), "GET ");  // the echoed body ends the response
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_server(s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 9s);  // the idle timeout, not the request timeout
  EXPECT_TRUE(eventually([&] { return drops("idle_timeout") == 1; }));
}

TEST_F(server_fixture, idle_connections_at_the_limit_do_not_lock_out_a_request) {
  start();
  const int limit = http_limits{}.max_connections;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < limit; ++i) idle.push_back(connect());
  ASSERT_TRUE(eventually([&] { return static_cast<int>(open_connections()) + drops("evicted") == limit; }));
  const auto reply = exchange(complete_get);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
}

TEST_F(server_fixture, slowloris_connections_are_evicted_in_favour_of_a_complete_request) {
  start({.max_connections = 4, .request_timeout = 10s, .max_request_bytes = 1024, .max_connections_per_client = 4});
  const std::string header = "GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  std::deque<tcp::socket> slow;  // oldest first
  std::size_t sent = 0;
  auto trickle = [&] {  // one more header byte from each; none ever finishes
    for (auto& s : slow) asio::write(s, asio::buffer(&header[sent % header.size()], 1));
    ++sent;
  };
  for (int round = 0; round < 3; ++round) {
    while (slow.size() < 4) slow.push_back(connect());  // the attacker reconnects what was cut
    ASSERT_TRUE(eventually([&] { return open_connections() == 4; }));
    for (int i = 0; i < 5; ++i) trickle();
    const auto reply = exchange(complete_get);
    EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
    EXPECT_TRUE(closed_by_server(slow.front())) << "round " << round;  // the oldest waiting one made room
    slow.pop_front();
  }
  EXPECT_EQ(drops("evicted"), 3);
}

TEST_F(server_fixture, a_client_at_its_cap_replaces_its_own_oldest_waiting_connection) {
  start({.max_connections = 4, .request_timeout = 10s, .max_request_bytes = 1024});  // cap: half, 2
  auto first = connect();
  auto second = connect();
  auto third = connect();
  ASSERT_TRUE(eventually([&] { return drops("evicted") == 1; }));
  EXPECT_EQ(open_connections(), 2u);  // under the server's limit of 4, yet the first had to go
  EXPECT_TRUE(closed_by_server(first));
  asio::write(third, asio::buffer(complete_get));
  EXPECT_EQ(read_all(third).rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(server_fixture, a_connection_being_answered_is_never_evicted) {
  start({.max_connections = 2, .request_timeout = 10s, .max_request_bytes = 1024, .max_connections_per_client = 2});
  auto reader = connect(4096);
  asio::write(reader, asio::buffer(std::string("GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  ASSERT_TRUE(response_started(reader));  // the server is writing and cannot finish until we read
  auto idle = connect();
  ASSERT_TRUE(eventually([&] { return open_connections() == 2; }));

  EXPECT_EQ(exchange(complete_get).rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_TRUE(closed_by_server(idle));
  EXPECT_EQ(drops("evicted"), 1);
  const auto big = read_all(reader);
  EXPECT_EQ(big.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_GT(big.size(), big_body_bytes);
}

TEST_F(server_fixture, a_connection_whose_request_arrived_unread_is_not_evicted) {
  start({.max_connections = 2, .request_timeout = 10s, .max_request_bytes = 1024, .max_connections_per_client = 2});
  auto reader = connect(4096);
  asio::write(reader, asio::buffer(std::string("GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  ASSERT_TRUE(response_started(reader));  // answering until we read: never a candidate
  auto prompt = connect();
  ASSERT_TRUE(eventually([&] { return open_connections() == 2; }));

  // With the loop held, a newcomer queues first and then `prompt` sends its
  // whole request: the loop meets the newcomer before it reads the request.
  std::promise<void> held, release;
  asio::post(io_, [&] {
    held.set_value();
    release.get_future().wait();
  });
  held.get_future().wait();
  auto newcomer = connect();
  asio::write(prompt, asio::buffer(complete_get));
  release.set_value();

  EXPECT_EQ(read_all(prompt).rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_TRUE(closed_by_server(newcomer));
  EXPECT_EQ(drops("evicted"), 0);
  EXPECT_EQ(drops("refused"), 1);
  EXPECT_GT(read_all(reader).size(), big_body_bytes);
}

TEST_F(server_fixture, a_connection_is_refused_only_when_every_connection_is_being_answered) {
  start({.max_connections = 1, .request_timeout = 10s, .max_request_bytes = 1024});
  auto reader = connect(4096);
  asio::write(reader, asio::buffer(std::string("GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  ASSERT_TRUE(response_started(reader));

  EXPECT_EQ(exchange(complete_get).find("HTTP/1.1"), std::string::npos);  // closed without an answer
  EXPECT_TRUE(eventually([&] { return drops("refused") == 1; }));
  EXPECT_GT(read_all(reader).size(), big_body_bytes);
  EXPECT_TRUE(eventually([&] { return open_connections() == 0; }));
  EXPECT_EQ(exchange(complete_get).rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(server_fixture, a_deferred_response_is_written_when_given_and_its_connection_is_not_evicted_meanwhile) {
  start({.max_connections = 1, .request_timeout = 10s, .max_request_bytes = 1024});
  auto waiting = connect();
  asio::write(waiting, asio::buffer(std::string("POST /later HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  ASSERT_TRUE(eventually([&] { return later_asked(); }));
  EXPECT_EQ(exchange(complete_get), "");  // the only slot is answering: refused, not evicted
  EXPECT_TRUE(eventually([&] { return drops("refused") == 1; }));
  reply_later(http_response::text(200, "done later"));
  const auto reply = read_all(waiting);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_NE(reply.find("done later"), std::string::npos);
}

TEST(client_of, counts_every_loopback_address_as_one_client) {
  const auto one = client_of(asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(client_of(asio::ip::make_address("127.0.0.2")), one);
  EXPECT_EQ(client_of(asio::ip::make_address("::1")), one);
  EXPECT_EQ(client_of(asio::ip::make_address("::ffff:127.9.9.9")), one);
}

TEST(client_of, counts_ipv4_addresses_apart_and_an_ipv6_address_as_its_slash_64) {
  EXPECT_NE(client_of(asio::ip::make_address("192.0.2.1")), client_of(asio::ip::make_address("192.0.2.2")));
  EXPECT_EQ(client_of(asio::ip::make_address("::ffff:192.0.2.1")), asio::ip::make_address("192.0.2.1"));
  EXPECT_EQ(client_of(asio::ip::make_address("2001:db8:1:2::a")), client_of(asio::ip::make_address("2001:db8:1:2::b")));
  EXPECT_NE(client_of(asio::ip::make_address("2001:db8:1:2::a")), client_of(asio::ip::make_address("2001:db8:1:3::a")));
  EXPECT_NE(client_of(asio::ip::make_address("fe80::1")), client_of(asio::ip::make_address("fe80::2")));
}

TEST(log_throttle, admits_one_line_per_interval_and_counts_those_held_back) {
  log_throttle throttle(10s);
  const std::chrono::steady_clock::time_point t0{};
  EXPECT_EQ(throttle.admit(t0), 0u);
  EXPECT_EQ(throttle.admit(t0 + 1s), std::nullopt);
  EXPECT_EQ(throttle.admit(t0 + 9s), std::nullopt);
  EXPECT_EQ(throttle.admit(t0 + 10s), 2u);  // two held back since the last line
  EXPECT_EQ(throttle.admit(t0 + 30s), 0u);
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
