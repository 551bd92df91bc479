// The WebSocket probe against the Beast fixture server in every mode it
// offers, against a third-party server (Debian's python3-websockets), over
// wss:// with a throwaway CA, and in persistent mode through drops.

#include "probes/websocket/websocket_probe.hpp"

#include "fixtures/ws_fixture_server.hpp"
#include "support/run_probe.hpp"
#include "support/run_until.hpp"
#include "support/temp_env.hpp"
#include "support/test_ca.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using test::describe;
using test::evidence_value;
using test::sample_value;
using test::ws_mode;

web_url url_of(const std::string& text) {
  std::string error;
  return *parse_web_url(text, true, error);
}

class websocket_probe_run : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};

  ~websocket_probe_run() override { pool.join(); }

  static websocket_probe::settings ping_pong(const std::string& url) {
    websocket_probe::settings s;
    s.url = url_of(url);
    s.mode = websocket_probe::ping_mode::message;
    s.send = R"({"type":"ping","id":"{{uuid}}"})";
    s.expect_json = boost::json::parse(R"({"type":"pong"})");
    s.timeout = 2s;
    return s;
  }
  probe_result run(websocket_probe& p) { return test::run_once(io, p); }
  probe_result run(const websocket_probe::settings& s) {
    websocket_probe p(s, ctx);
    return run(p);
  }
  static test::ws_fixture_options mode(ws_mode m) {
    test::ws_fixture_options o;
    o.mode = m;
    return o;
  }
};

TEST_F(websocket_probe_run, ping_answered_with_pong_passes_and_closes_with_1000) {
  test::ws_fixture_server server;
  const auto r = run(ping_pong(server.url()));
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(sample_value(r, "vitals_websocket_http_status"), 101);
  EXPECT_TRUE(sample_value(r, "vitals_websocket_connect_seconds"));
  EXPECT_TRUE(sample_value(r, "vitals_websocket_handshake_seconds"));
  EXPECT_GT(*sample_value(r, "vitals_websocket_roundtrip_seconds"), 0);
  EXPECT_NE(evidence_value(r, "answer").find("pong"), std::string::npos) << describe(r);
  // The probe closed with 1000. Beast answers a close frame before the
  // server's read completes, so the probe may be back before the server's
  // thread has recorded it: wait for that, with a deadline.
  test::run_until(io, [&] { return !server.close_codes_received().empty(); });
  EXPECT_EQ(server.close_codes_received(), std::vector<int>{1000});
  EXPECT_EQ(server.messages_received(), 1);
}

TEST_F(websocket_probe_run, a_third_party_server_answering_pong_passes) {
  // Debian's python3-websockets, not written here. Its module is installed
  // for the system Python.
  const auto script = (std::filesystem::path(VITALS_TEST_FIXTURES_DIR) / "ws_pong_server.py").string();
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execl("/usr/bin/python3", "python3", script.c_str(), "0", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  FILE* lines = ::fdopen(out[0], "r");
  int port = 0;
  const bool started = std::fscanf(lines, "PORT %d", &port) == 1;
  if (started) {
    const auto r = run(ping_pong("ws://127.0.0.1:" + std::to_string(port) + "/"));
    EXPECT_TRUE(r.ok) << describe(r);
    EXPECT_NE(evidence_value(r, "server").find("websockets"), std::string::npos) << describe(r);
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::fclose(lines);
  ASSERT_TRUE(started) << "ws_pong_server.py did not start (is python3-websockets installed?)";
}

TEST_F(websocket_probe_run, a_server_that_never_answers_times_out_inside_the_timeout) {
  test::ws_fixture_server server(mode(ws_mode::never_answer));
  auto s = ping_pong(server.url());
  s.timeout = 500ms;
  websocket_probe p(s, ctx);
  const auto r = test::run_with_deadline(io, p, 500ms);
  ASSERT_TRUE(r) << "the scheduler's deadline ended the run: the probe's own should come first";
  EXPECT_EQ(r->reason, "timeout") << describe(*r);
  EXPECT_NE(r->error.find("no matching answer within 450.0ms"), std::string::npos) << r->error;
}

TEST_F(websocket_probe_run, other_traffic_before_the_pong_is_skipped) {
  test::ws_fixture_server server(mode(ws_mode::wrong_then_pong));
  const auto r = run(ping_pong(server.url()));
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_NE(evidence_value(r, "roundtrip").find("2 other messages skipped"), std::string::npos) << describe(r);
}

TEST_F(websocket_probe_run, too_many_other_messages_is_a_mismatch) {
  test::ws_fixture_server server(mode(ws_mode::wrong_then_pong));
  auto s = ping_pong(server.url());
  s.max_messages = 2;
  const auto r = run(s);
  EXPECT_EQ(r.reason, "mismatch") << describe(r);
  EXPECT_NE(r.error.find(R"(.type: expected "pong", got "news")"), std::string::npos) << r.error;
}

TEST_F(websocket_probe_run, a_late_pong_inside_the_timeout_passes_and_shows_the_roundtrip) {
  auto o = mode(ws_mode::late_pong);
  o.delay = 200ms;
  test::ws_fixture_server server(o);
  const auto r = run(ping_pong(server.url()));
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_GE(*sample_value(r, "vitals_websocket_roundtrip_seconds"), 0.2);
}

TEST_F(websocket_probe_run, a_missing_token_is_unauthorized_and_the_configured_one_is_accepted) {
  test::ws_fixture_server server(mode(ws_mode::require_token));
  auto s = ping_pong(server.url());
  const auto refused = run(s);
  EXPECT_EQ(refused.reason, "unauthorized") << describe(refused);
  EXPECT_EQ(sample_value(refused, "vitals_websocket_http_status"), 401);
  EXPECT_NE(refused.error.find("no Authorization header configured"), std::string::npos) << refused.error;

  s.headers = {{"Authorization", "Bearer secret-token"}};
  const auto accepted = run(s);
  EXPECT_TRUE(accepted.ok) << describe(accepted);
  EXPECT_EQ(server.last_request_headers().at("authorization"), "Bearer secret-token");
  EXPECT_EQ(describe(accepted).find("secret-token"), std::string::npos);
}

TEST_F(websocket_probe_run, a_foreign_origin_is_forbidden) {
  test::ws_fixture_server server(mode(ws_mode::require_origin));
  auto s = ping_pong(server.url());
  s.headers = {{"Origin", "http://evil.example"}};
  const auto r = run(s);
  EXPECT_EQ(r.reason, "forbidden") << describe(r);
  EXPECT_NE(r.error.find("Origin http://evil.example"), std::string::npos) << r.error;
  s.headers = {{"Origin", "http://localhost:3000"}};
  EXPECT_TRUE(run(s).ok);
}

TEST_F(websocket_probe_run, refused_upgrades_are_named_by_status) {
  const std::pair<ws_mode, std::string> cases[] = {{ws_mode::not_websocket, "not_websocket"},
                                                    {ws_mode::server_error, "server_error"},
                                                    {ws_mode::not_found, "not_found"},
                                                    {ws_mode::bad_accept_key, "bad_accept_key"}};
  for (const auto& [m, reason] : cases) {
    test::ws_fixture_server server(mode(m));
    const auto r = run(ping_pong(server.url()));
    EXPECT_EQ(r.reason, reason) << describe(r);
  }
}

TEST_F(websocket_probe_run, a_handshake_that_never_completes_times_out) {
  test::ws_fixture_server server(mode(ws_mode::hang_handshake));
  auto s = ping_pong(server.url());
  s.timeout = 300ms;
  const auto r = run(s);
  EXPECT_EQ(r.reason, "timeout") << describe(r);
  EXPECT_EQ(server.handshakes(), 0);
}

TEST_F(websocket_probe_run, an_oversized_frame_is_too_large) {
  test::ws_fixture_server server(mode(ws_mode::oversized_frame));
  auto s = ping_pong(server.url());
  s.max_message_bytes = 64 * 1024;
  const auto r = run(s);
  EXPECT_EQ(r.reason, "too_large") << describe(r);
}

TEST_F(websocket_probe_run, an_abrupt_close_is_a_clear_failure) {
  test::ws_fixture_server server(mode(ws_mode::close_abruptly));
  const auto r = run(ping_pong(server.url()));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "protocol") << describe(r);
}

TEST_F(websocket_probe_run, control_mode_waits_for_the_pong_frame) {
  test::ws_fixture_server server;
  websocket_probe::settings s;
  s.url = url_of(server.url());
  s.mode = websocket_probe::ping_mode::control;
  s.timeout = 1s;
  const auto r = run(s);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_TRUE(sample_value(r, "vitals_websocket_roundtrip_seconds"));

  test::ws_fixture_server silent(mode(ws_mode::never_answer));
  s.url = url_of(silent.url());
  EXPECT_EQ(run(s).reason, "timeout");
}

TEST_F(websocket_probe_run, wss_with_the_configured_ca_passes_and_times_tls) {
  test::temp_dir dir;
  const auto ca = test::test_ca::make();
  auto o = mode(ws_mode::pong);
  o.tls = ca.server;
  test::ws_fixture_server server(o);
  auto s = ping_pong(server.url());
  ASSERT_TRUE(s.url.tls);
  s.tls.ca_file = ca.write_ca_file(dir.path());
  s.tls.server_name = "localhost";
  const auto r = run(s);
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_TRUE(sample_value(r, "vitals_websocket_tls_seconds"));

  s.tls.ca_file.clear();  // the system's CAs do not know ours
  EXPECT_EQ(run(s).reason, "tls");
}

TEST_F(websocket_probe_run, persistent_mode_keeps_one_connection_and_counts_drops) {
  test::ws_fixture_server server;
  auto s = ping_pong(server.url());
  s.persistent = true;
  websocket_probe p(s, ctx);
  for (int i = 0; i < 3; ++i) {
    const auto r = run(p);
    ASSERT_TRUE(r.ok) << describe(r);
    EXPECT_EQ(sample_value(r, "vitals_websocket_connected"), 1);
    EXPECT_EQ(sample_value(r, "vitals_websocket_disconnects_total"), 0);
  }
  EXPECT_EQ(server.handshakes(), 1);  // one connection served all three runs
  EXPECT_EQ(server.messages_received(), 3);

  // The server drops it without a close frame: the next runs notice,
  // count one disconnect and reconnect.
  server.drop_all();
  probe_result r;
  for (int i = 0; i < 3; ++i) {
    r = run(p);
    if (r.ok) break;
  }
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(sample_value(r, "vitals_websocket_disconnects_total"), 1) << describe(r);
  EXPECT_EQ(server.handshakes(), 2);
}

TEST_F(websocket_probe_run, persistent_mode_treats_a_silent_connection_as_dropped) {
  test::ws_fixture_server server;
  auto s = ping_pong(server.url());
  s.persistent = true;
  s.timeout = 500ms;
  websocket_probe p(s, ctx);
  ASSERT_TRUE(run(p).ok);
  server.set_mode(ws_mode::never_answer);  // the kept connection goes quiet
  const auto silent = run(p);
  EXPECT_EQ(silent.reason, "timeout") << describe(silent);
  EXPECT_EQ(sample_value(silent, "vitals_websocket_disconnects_total"), 1);
  EXPECT_EQ(sample_value(silent, "vitals_websocket_connected"), 0);
  server.set_mode(ws_mode::pong);
  const auto back = run(p);
  EXPECT_TRUE(back.ok) << describe(back);
  EXPECT_EQ(server.handshakes(), 2);
}

TEST_F(websocket_probe_run, persistent_mode_counts_the_servers_close_codes) {
  test::ws_fixture_server server(mode(ws_mode::close_normally));  // pong, then close 1001
  auto s = ping_pong(server.url());
  s.persistent = true;
  websocket_probe p(s, ctx);
  ASSERT_TRUE(run(p).ok);
  probe_result r;
  for (int i = 0; i < 3 && !sample_value(r, "vitals_websocket_disconnects_total").value_or(0); ++i) r = run(p);
  EXPECT_EQ(sample_value(r, "vitals_websocket_disconnects_total"), 1) << describe(r);
  bool counted = false;
  for (const auto& sm : r.samples)
    if (sm.name == "vitals_websocket_close_codes_total" && sm.labels.at("code") == "1001") counted = sm.value == 1;
  EXPECT_TRUE(counted) << describe(r);
}

}  // namespace
}  // namespace vitals
