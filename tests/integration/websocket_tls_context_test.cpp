// The WebSocket probe builds a TLS context (and loads the CA bundle,
// megabytes of memory) for wss:// only, never for ws://.

#include "probes/websocket/websocket_probe.hpp"

#include "fixtures/ws_fixture_server.hpp"
#include "support/run_probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;

websocket_probe::settings settings_for(const std::string& text) {
  websocket_probe::settings s;
  std::string error;
  s.url = *parse_web_url(text, true, error);
  s.timeout = 2s;
  return s;
}

TEST(websocket_tls_context, plain_ws_probe_never_builds_one) {
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  test::ws_fixture_server server;
  websocket_probe probe(settings_for(server.url()), ctx);

  const auto r = test::run_once(io, probe);

  EXPECT_TRUE(r.ok) << test::describe(r);
  EXPECT_FALSE(probe.has_tls_context());
  pool.join();
}

TEST(websocket_tls_context, wss_probe_builds_one_when_it_is_made) {
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  websocket_probe probe(settings_for("wss://127.0.0.1:1/ws"), ctx);
  EXPECT_TRUE(probe.has_tls_context());
}

}  // namespace
}  // namespace vitals
