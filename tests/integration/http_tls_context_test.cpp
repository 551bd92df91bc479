// The HTTP probe builds a TLS context (and loads the CA bundle, megabytes of
// memory) only when a target needs TLS: never for a plain http:// probe,
// at once for https://, and on the first redirect from http:// to https://.

#include "probes/http/http_probe.hpp"

#include "fixtures/http_fixture_server.hpp"
#include "support/run_probe.hpp"
#include "support/temp_env.hpp"
#include "support/test_ca.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using test::describe;

class http_tls_context : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  test::temp_dir dir;
  test::test_ca ca = test::test_ca::make();

  ~http_tls_context() override { pool.join(); }

  http_probe::settings settings_for(const std::string& text) {
    http_probe::settings s;
    std::string error;
    s.url = *parse_web_url(text, false, error);
    s.timeout = 3s;
    s.tls.ca_file = ca.write_ca_file(dir.path());
    s.tls.server_name = "localhost";
    return s;
  }
};

TEST_F(http_tls_context, plain_http_probe_never_builds_one) {
  test::http_fixture_server server;
  http_probe probe(settings_for(server.url("/health")), ctx);

  const auto r = test::run_once(io, probe);

  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_FALSE(probe.has_tls_context());
}

TEST_F(http_tls_context, https_probe_builds_one_when_it_is_made) {
  test::http_fixture_options o;
  o.tls = ca.server;
  test::http_fixture_server server(o);
  http_probe probe(settings_for(server.url("/health")), ctx);

  EXPECT_TRUE(probe.has_tls_context());
  const auto r = test::run_once(io, probe);
  EXPECT_TRUE(r.ok) << describe(r);
}

TEST_F(http_tls_context, redirect_from_http_to_https_builds_one_when_followed) {
  test::http_fixture_options o;
  o.tls = ca.server;
  test::http_fixture_server secure(o);
  // A plain server whose only answer sends the client to the https one.
  asio::io_context server_io;
  asio::ip::tcp::acceptor acceptor(server_io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  std::thread server([&] {
    auto socket = acceptor.accept();
    char request[1024];
    boost::system::error_code ec;
    socket.read_some(asio::buffer(request), ec);
    asio::write(socket,
                asio::buffer("HTTP/1.1 302 Found\r\nLocation: " + secure.url("/health") +
                             "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                ec);
  });
  auto s = settings_for("http://127.0.0.1:" + std::to_string(port) + "/");
  s.max_redirects = 1;
  http_probe probe(s, ctx);
  EXPECT_FALSE(probe.has_tls_context());

  const auto r = test::run_once(io, probe);

  server.join();
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_TRUE(probe.has_tls_context());
}

}  // namespace
}  // namespace vitals
