// The routes over a real metrics, scheduler, alert engine and state keeper
// (in memory: the store is never opened), as GET requests reach them.

#include "daemon/server/routes.hpp"

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/state/state_keeper.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

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
  std::string host = "web-1";
  route_context ctx{telemetry, sched, alert_engine, keeper, host, [] { return true; }, [] { return false; },
                    [](reload_done) {}};

  ~daemon_parts() { pool.join(); }
  http_response get(std::string target) { return route(ctx, {"GET", std::move(target), ""}); }
};

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

}  // namespace
}  // namespace vitals
