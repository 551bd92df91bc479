// The run history as drawn and served: one strip cell per run classed by
// how it ended, a sparkline whose points follow the documented formula,
// uptime never shown as 100 % while a run failed, the kind's key numbers,
// the history JSON, and the probe page with its incidents on the time axis
// and nothing loaded from elsewhere.

#include "daemon/server/history_views.hpp"

#include "probes/core/time_format.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using clock_point = std::chrono::system_clock::time_point;
const clock_point t0 = clock_point{} + std::chrono::hours(24 * 365 * 56);

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

probe_history::view a_view(const std::string& kind, int runs, int failed_every) {
  probe_history h;
  probe_settings s;
  s.name = "api";
  s.type = kind;
  h.probe_added(s);
  for (int i = 0; i < runs; ++i) {
    run_outcome o;
    o.result.ok = failed_every == 0 || i % failed_every != 0;
    o.result.error = o.result.ok ? "" : "HTTP 503 <Service Unavailable>";
    o.duration_seconds = 0.001 * (i + 1);
    o.finished_at = t0 + i * 1s;
    if (kind == "redis")
      o.result.samples = {{"vitals_redis_used_memory_bytes", {}, 900.0 * 1024 * 1024},
                          {"vitals_redis_maxmemory_bytes", {}, 1024.0 * 1024 * 1024}};
    h.run_finished(s, o);
  }
  return *h.find("api", t0 + runs * 1s);
}

TEST(history_views, the_strip_has_one_cell_per_run_shown_classed_by_how_it_ended) {
  const auto v = a_view("http", 80, 10);  // runs 0, 10, …, 70 failed
  const auto svg = run_strip_svg(v.runs, strip_runs);
  EXPECT_EQ(count(svg, "<rect "), strip_runs);
  EXPECT_EQ(count(svg, "<rect class=\"failed\""), 6u);  // 20, 30, …, 70 are among the last 60
  EXPECT_EQ(count(svg, "<rect class=\"ok\""), 54u);
  EXPECT_NE(svg.find("last 60 runs, 6 failed"), std::string::npos);
  EXPECT_NE(svg.find("HTTP 503 &lt;Service Unavailable&gt;</title>"), std::string::npos);
  EXPECT_NE(svg.find("data-at=\"" + std::to_string(unix_ms(t0 + 79s)) + "\""), std::string::npos);
}

TEST(history_views, sparkline_points_follow_the_formula_and_skip_gaps) {
  const auto svg = sparkline_svg({0.0, 0.5, NAN, 1.0}, "x", 5);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("points=\"([^\"]*)\"")));
  // x = 5 i + 2, under the cells of a strip; y = 23 - 22 * v / 1.
  EXPECT_EQ(m[1].str(), "2.0,23.0 7.0,12.0 17.0,1.0");
  EXPECT_NE(svg.find("viewBox=\"0 0 20 24\""), std::string::npos);
  EXPECT_EQ(sparkline_svg({1.0}, "x"), "");
}

TEST(history_views, uptime_is_not_rounded_up_to_100_percent_while_a_run_failed) {
  EXPECT_EQ(uptime_text({99999, 100000}), "99.99 %");
  EXPECT_EQ(uptime_text({17, 20}), "85.00 %");
  EXPECT_EQ(uptime_text({20, 20}), "100 %");
  EXPECT_EQ(uptime_text({}), "–");
}

TEST(history_views, redis_memory_is_a_bar_of_its_limit_marked_bad_near_it) {
  const auto html = key_numbers_cell(a_view("redis", 3, 0));
  EXPECT_NE(html.find("900.0 MiB of 1.0 GiB"), std::string::npos) << html;
  EXPECT_NE(html.find("class=\"fill warn\""), std::string::npos) << html;  // 88 %
  EXPECT_EQ(key_numbers_cell(a_view("port", 3, 0)), "");
}

TEST(history_views, the_history_json_has_the_aggregates_recent_runs_and_uptime) {
  const auto v = a_view("http", 5, 2);  // runs 0, 2, 4 failed
  probe_status p;
  p.settings.name = "api";
  p.settings.type = "http";
  history_range r{24h, 600s, t0 + 10s, {}, true, ""};
  history_bucket b;
  b.start_ms = unix_ms(t0);
  b.step_s = 600;
  for (const auto& run : v.runs) b.add(run.end, run.duration_seconds, history_bucket::nan_keys(), "http");
  r.buckets.push_back(b);
  namespace json = boost::json;
  const auto doc = json::parse(history_json(p, v, r)).as_object();
  EXPECT_EQ(doc.at("step_seconds").as_int64(), 600);
  const auto& pt = doc.at("points").as_array().at(0).as_object();
  EXPECT_EQ(pt.at("start").as_string(), rfc3339(t0));
  EXPECT_EQ(pt.at("runs").as_int64(), 5);
  EXPECT_EQ(pt.at("failed").as_int64(), 3);
  EXPECT_NEAR(pt.at("duration_seconds").at("avg").as_double(), 0.003, 1e-6);
  EXPECT_TRUE(pt.at("values").at("status_code").is_null());
  EXPECT_EQ(doc.at("recent_runs").as_array().size(), 5u);
  EXPECT_EQ(doc.at("recent_runs").as_array().at(0).at("result").as_string(), "failed");
  EXPECT_EQ(doc.at("uptime").at("good").as_int64(), 2);
  EXPECT_EQ(doc.at("uptime_windows").at("1h").at("runs").as_int64(), 5);
  // ?runs=2: the newest two.
  const auto two = json::parse(history_json(p, v, r, 2)).as_object().at("recent_runs").as_array();
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two.at(1).at("at_ms").as_int64(), v.runs.back().at_ms);
}

TEST(history_views, the_probe_page_marks_incidents_on_each_chart_and_loads_nothing_from_elsewhere) {
  probe_page page;
  page.host = "dev";
  page.now = t0 + 10min;
  page.probe.settings.name = "api \xff";
  page.probe.settings.type = "http";
  page.history = a_view("http", 30, 3);
  for (auto [range, step] : {std::pair{1h, 60s}, {24h, 600s}, {24h * 7, 3600s}}) {
    history_range r{range, step, page.now, {}, true, ""};
    for (int i = 0; i < 3; ++i) {
      history_bucket b;
      b.step_s = static_cast<std::int32_t>(step.count());
      b.start_ms = unix_ms(page.now) - (3 - i) * step.count() * 1000;
      b.add(run_end::ok, 0.01 * (i + 1), history_bucket::nan_keys(), "http");
      b.add(run_end::failed, 0.02, history_bucket::nan_keys(), "http");
      r.buckets.push_back(b);
    }
    page.ranges.push_back(r);
  }
  incident i;
  i.id = 7;
  i.alertname = "ProbeDown";
  i.started = page.now - 2min;
  i.evidence_json = R"({"cause":"HTTP 503","evidence":{"body":"busy"}})";
  page.incidents.push_back(i);
  const auto html = probe_page_html(page);
  EXPECT_TRUE(is_valid_utf8(html));
  EXPECT_EQ(count(html, "<rect class=\"incident\" data-incident=\"7\""), 3u);  // one per range
  EXPECT_EQ(count(html, "<rect class=\"failures\""), 9u);
  EXPECT_NE(html.find("<dt>body</dt><dd>busy</dd>"), std::string::npos);
  EXPECT_NE(html.find("href=\"/api/v1/probes/api%20%FF/history?range=24h\""), std::string::npos) << html;
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("style="), std::string::npos);  // the CSP allows no inline style
}

}  // namespace
}  // namespace vitals
