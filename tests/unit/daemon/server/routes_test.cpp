// The routes over a real metrics, scheduler, alert engine and state keeper
// (in memory: the store is never opened), as GET requests reach them.

#include "daemon/server/routes.hpp"

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/server/status_assets.hpp"
#include "daemon/state/probe_history.hpp"
#include "daemon/state/state_keeper.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/valid_text.hpp"
#include "support/gunzip.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace vitals {
namespace {

const std::string fffd = "\xEF\xBF\xBD";

struct daemon_parts {
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_registry registry;
  metrics telemetry{registry};
  scheduler sched{io, telemetry};
  alerts::engine alert_engine;
  state_keeper keeper{io, pool, telemetry};
  probe_history history;
  probe_context work{io, pool};
  std::string host = "web-1";
  bool lifecycle = false;
  int reloads = 0;  // reloads the routes asked the app for
  route_context ctx{telemetry,
                    sched,
                    alert_engine,
                    keeper,
                    history,
                    host,
                    [] { return true; },
                    [this] { return lifecycle; },
                    [this](reload_done done) {
                      ++reloads;
                      done(true, "");
                    },
                    [] { return listen_hosts{{asio::ip::make_address("127.0.0.1"), 9273}, {}}; },
                    work};

  ~daemon_parts() { pool.join(); }

  // The response, waited for when the routes answer later (/metrics is
  // written on the pool and handed back to the loop).
  http_response answered(http_response r) {
    if (!r.deferred) return r;
    std::optional<http_response> out;
    r.deferred([&](http_response final_answer) { out = std::move(final_answer); });
    const auto guard = asio::make_work_guard(io);
    io.restart();
    while (!out) io.run_one();
    return std::move(*out);
  }
  http_response get(std::string target) { return route(ctx, {"GET", std::move(target), "", {}}); }

  // A POST /-/reload with these headers, answered: the deferred reply when
  // the routes start a reload.
  http_response reload(std::vector<std::pair<std::string, std::string>> headers) {
    auto r = route(ctx, {"POST", "/-/reload", "", std::move(headers)});
    if (!r.deferred) return r;
    http_response answer;
    r.deferred([&](http_response final_answer) { answer = std::move(final_answer); });
    return answer;
  }
};

const std::string* header_of(const http_response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return &v;
  return nullptr;
}

// The exposition up to the daemon's process_* series, which move on their own (CPU, RSS).
std::string before_process_series(const std::string& text) { return text.substr(0, text.find("# HELP process_")); }

// The same exposition, plain and gzipped, whether the routes answer at once
// or from the pool.
void expect_metrics_plain_and_gzipped(daemon_parts& d, bool off_the_loop) {
  const auto expected = before_process_series(d.telemetry.serialize());

  auto plain = d.get("/metrics");
  EXPECT_EQ(static_cast<bool>(plain.deferred), off_the_loop);
  plain = d.answered(std::move(plain));
  EXPECT_EQ(plain.status, 200u);
  EXPECT_EQ(before_process_series(plain.body), expected);
  EXPECT_EQ(header_of(plain, "Content-Encoding"), nullptr);
  ASSERT_NE(header_of(plain, "Vary"), nullptr);
  EXPECT_EQ(*header_of(plain, "Vary"), "Accept-Encoding");

  auto packed = route(d.ctx, {"GET", "/metrics", "", {{"Accept-Encoding", "gzip, deflate"}}});
  EXPECT_EQ(static_cast<bool>(packed.deferred), off_the_loop);
  packed = d.answered(std::move(packed));
  ASSERT_NE(header_of(packed, "Content-Encoding"), nullptr);
  EXPECT_EQ(*header_of(packed, "Content-Encoding"), "gzip");
  EXPECT_EQ(before_process_series(test::gunzip(packed.body)), expected);
  EXPECT_LT(packed.body.size(), plain.body.size());
}

void add_port_probes(daemon_parts& d, int count) {
  for (int i = 0; i < count; ++i) {
    probe_settings s;
    s.name = "api-" + std::to_string(i);
    s.type = "port";
    d.telemetry.probe_added(s);
  }
}

TEST(routes, metrics_of_a_few_probes_are_answered_at_once_and_gzipped_when_the_client_accepts_it) {
  daemon_parts d;
  add_port_probes(d, 1);
  expect_metrics_plain_and_gzipped(d, false);
}

TEST(routes, metrics_of_many_probes_are_written_off_the_loop_and_gzipped_when_the_client_accepts_it) {
  daemon_parts d;
  add_port_probes(d, 100);
  expect_metrics_plain_and_gzipped(d, true);
}

TEST(routes, incidents_are_valid_utf8_with_their_evidence_when_stored_with_raw_bytes) {
  daemon_parts d;
  alerts::alert_instance a;
  a.rule = "PortConflict";
  a.label_values = {{"alertname", "PortConflict"}, {"process", "\xff"}};
  a.summary = "port 3001 is held by \xff";
  // What an earlier version stored: a process named \xff, raw, inside the JSON text.
  d.keeper.open_incident(a, "{\"cause\":\"owned by \xff\",\"evidence\":{\"owner\":\"\xff (pid 7)\"}}",
                         alerts::wall_clock::now());

  const auto r = d.get("/api/v1/incidents");
  ASSERT_EQ(r.status, 200u);
  EXPECT_TRUE(is_valid_utf8(r.body));
  boost::system::error_code ec;
  const auto v = boost::json::parse(r.body, ec);  // strict, as a client's parser is
  ASSERT_FALSE(ec) << ec.message() << ": " << r.body;
  const auto& i = v.at("incidents").at(0);
  EXPECT_EQ(i.at("labels").at("process").as_string(), fffd);
  EXPECT_EQ(i.at("summary").as_string(), "port 3001 is held by " + fffd);
  EXPECT_EQ(i.at("evidence").at("cause").as_string(), "owned by " + fffd);
  EXPECT_EQ(i.at("evidence").at("evidence").at("owner").as_string(), fffd + " (pid 7)");
}

TEST(routes, a_plain_reload_post_is_refused_and_nothing_reloads) {
  daemon_parts d;
  d.lifecycle = true;
  const auto r = d.reload({{"Host", "127.0.0.1:9273"}});
  EXPECT_EQ(r.status, 403u);
  EXPECT_NE(r.body.find("X-Requested-With"), std::string::npos) << r.body;
  EXPECT_EQ(d.reloads, 0);
}

TEST(routes, a_reload_post_with_a_custom_header_to_this_server_reloads) {
  daemon_parts d;
  d.lifecycle = true;
  const auto r = d.reload({{"Host", "127.0.0.1:9273"}, {"X-Requested-With", "curl"}});
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(d.reloads, 1);
}

TEST(routes, a_disabled_lifecycle_says_so_before_anything_else) {
  daemon_parts d;
  const auto r = d.reload({{"Host", "127.0.0.1:9273"}, {"X-Requested-With", "curl"}});
  EXPECT_EQ(r.status, 403u);
  EXPECT_NE(r.body.find("server.enable_lifecycle"), std::string::npos) << r.body;
  EXPECT_EQ(d.reloads, 0);
}

TEST(routes, the_status_page_has_no_inline_style_or_script_and_links_its_assets) {
  daemon_parts d;
  const auto page = d.get("/");
  ASSERT_EQ(page.status, 200u);
  for (const char* inline_code : {"<style", "<script>", " style=", " onload=", " onclick=", "javascript:"})
    EXPECT_EQ(page.body.find(inline_code), std::string::npos) << inline_code;
  EXPECT_NE(page.body.find("<link rel=\"stylesheet\" href=\"/static/status.css?v="), std::string::npos);
  EXPECT_NE(page.body.find("<script src=\"/static/status.js?v="), std::string::npos);
}

TEST(routes, the_status_assets_are_served_with_their_type_and_cached) {
  daemon_parts d;
  const auto css = d.get("/static/status.css?v=123");
  ASSERT_EQ(css.status, 200u);
  EXPECT_EQ(css.content_type, "text/css; charset=utf-8");
  EXPECT_NE(css.body.find(".badge.down"), std::string::npos);
  ASSERT_TRUE(header_of(css, "Cache-Control"));
  EXPECT_NE(header_of(css, "Cache-Control")->find("max-age="), std::string::npos);
  const auto js = d.get("/static/status.js");
  ASSERT_EQ(js.status, 200u);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(js.body.find("location.reload()"), std::string::npos);
  EXPECT_EQ(d.get("/static/other.js").status, 404u);
  EXPECT_EQ(route(d.ctx, {"POST", "/static/status.js", "", {}}).status, 405u);
}

TEST(routes, an_asset_url_changes_with_its_content) {
  const auto css = status_asset_url("/static/status.css");
  const auto js = status_asset_url("/static/status.js");
  EXPECT_TRUE(css.starts_with("/static/status.css?v=")) << css;
  EXPECT_NE(css.substr(css.find('=')), js.substr(js.find('=')));
}

// A probe that is never due within a test: only its settings matter.
class idle_probe final : public probe {
public:
  asio::awaitable<probe_result> run() override { co_return probe_result::success(); }
  std::string target() const override { return "127.0.0.1:1"; }
};

TEST(routes, a_status_page_of_many_probes_is_written_off_the_loop_gzipped_when_accepted) {
  daemon_parts d;
  std::vector<probe_spec> specs;
  for (int i = 0; i < 40; ++i) {
    probe_spec p;
    p.settings.name = "api-" + std::to_string(i);
    p.settings.type = "port";
    p.settings.interval = std::chrono::hours(1);
    p.fingerprint = p.settings.name;
    p.instance = std::make_shared<idle_probe>();
    specs.push_back(std::move(p));
  }
  d.sched.apply(specs);
  auto page = route(d.ctx, {"GET", "/", "", {{"Accept-Encoding", "gzip"}}});
  ASSERT_TRUE(page.deferred);
  page = d.answered(std::move(page));
  EXPECT_EQ(page.status, 200u);
  ASSERT_NE(header_of(page, "Content-Encoding"), nullptr);
  const auto html = test::gunzip(page.body);
  EXPECT_NE(html.find("data-probe=\"api-39\""), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  d.sched.stop();
}

TEST(routes, history_of_an_unknown_probe_is_404_and_a_bad_range_400_naming_it) {
  daemon_parts d;
  EXPECT_EQ(d.get("/probes/nope").status, 404u);
  const auto missing = d.get("/api/v1/probes/nope/history");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_NE(missing.body.find("no probe named \"nope\""), std::string::npos);
  const auto bad = d.get("/api/v1/probes/nope/history?range=forever");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.body.find("range: expected a duration"), std::string::npos);
  EXPECT_EQ(d.get("/api/v1/probes/nope/history?range=30s").status, 400u);
  const auto runs = d.get("/api/v1/probes/nope/history?runs=91");
  EXPECT_EQ(runs.status, 400u);
  EXPECT_NE(runs.body.find("runs: expected a whole number from 0 to 90"), std::string::npos);
  EXPECT_EQ(route(d.ctx, {"POST", "/probes/nope", "", {}}).status, 405u);
}

TEST(routes, a_runbook_is_served_as_a_page_and_an_unknown_one_is_404) {
  daemon_parts d;
  for (const auto& method : {"GET", "HEAD"}) {
    const auto page = route(d.ctx, {method, "/runbooks/ProbeDown", "", {}});
    ASSERT_EQ(page.status, 200u) << method;
    EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
    EXPECT_NE(page.body.find("<title>ProbeDown — vitals runbooks</title>"), std::string::npos) << page.body;
  }
  const auto index = d.get("/runbooks/");
  ASSERT_EQ(index.status, 200u);
  EXPECT_NE(index.body.find("<a href=\"/runbooks/ProbeDown\">"), std::string::npos) << index.body;

  const auto missing = d.get("/runbooks/NoSuchAlert");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(missing.body, "no runbook named \"NoSuchAlert\"; every runbook is listed at /runbooks/\n");
  const auto post = route(d.ctx, {"POST", "/runbooks/ProbeDown", "", {}});
  EXPECT_EQ(post.status, 405u);
  ASSERT_TRUE(header_of(post, "Allow"));
  EXPECT_EQ(*header_of(post, "Allow"), "GET");
}

}  // namespace
}  // namespace vitals
