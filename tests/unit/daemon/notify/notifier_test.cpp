// The notifier's decisions, without a socket or a clock: which alerts go
// out after an evaluation and with which endsAt (alert_batcher), what each
// receiver's answer means for a batch and its queue (delivery_queue), and
// the bodies Alertmanager and webhooks receive (alert_payload).

#include "daemon/notify/alert_batcher.hpp"
#include "daemon/notify/alert_payload.hpp"
#include "daemon/notify/delivery_queue.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using alerts::wall_clock;

// 2023-11-14T22:13:20Z
const auto t0 = wall_clock::time_point{} + std::chrono::seconds(1700000000);

// --- delivery_queue: what each answer means --------------------------------

TEST(delivery_queue, a_2xx_delivers_the_oldest_batch_and_takes_it_off_the_queue) {
  delivery_queue q(10);
  q.push("first");
  q.push("second");
  EXPECT_EQ(q.start_sending(), "first");
  const auto step = q.answered(204);
  EXPECT_EQ(step.result, delivery_result::ok);
  EXPECT_EQ(result_label(step.result), "ok");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q.start_sending(), "second");
}

TEST(delivery_queue, a_4xx_rejects_the_batch_at_once_without_a_retry) {
  for (const unsigned status : {400u, 404u, 413u, 499u}) {
    delivery_queue q(10);
    q.push("batch");
    q.start_sending();
    EXPECT_EQ(q.answered(status).result, delivery_result::rejected) << status;
    EXPECT_TRUE(q.empty()) << status;
  }
  EXPECT_EQ(result_label(delivery_result::rejected), "rejected");
}

TEST(delivery_queue, no_answer_or_a_5xx_is_retried_after_1_2_4_8_s_then_fails_and_is_dropped) {
  delivery_queue q(10);
  q.push("batch");
  q.start_sending();
  // No answer (0), server errors, and anything neither 2xx nor 4xx.
  const std::vector<unsigned> answers = {503, 0, 500, 302};
  std::vector<std::chrono::seconds> backoffs;
  for (const auto status : answers) {
    const auto step = q.answered(status);
    ASSERT_EQ(step.result, delivery_result::retry) << status;
    backoffs.push_back(step.retry_after);
    EXPECT_EQ(q.size(), 1u);  // still waiting while it is retried
  }
  EXPECT_EQ(backoffs, (std::vector<std::chrono::seconds>{1s, 2s, 4s, 8s}));
  EXPECT_EQ(q.answered(502).result, delivery_result::failed);  // the fifth attempt
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(result_label(delivery_result::retry), "retry");
  EXPECT_EQ(result_label(delivery_result::failed), "failed");
}

TEST(delivery_queue, a_retried_batch_that_gets_through_is_ok_and_the_next_starts_with_fresh_attempts) {
  delivery_queue q(10);
  q.push("first");
  q.push("second");
  q.start_sending();
  EXPECT_EQ(q.answered(503).result, delivery_result::retry);
  EXPECT_EQ(q.answered(0).result, delivery_result::retry);
  EXPECT_EQ(q.answered(200).result, delivery_result::ok);
  EXPECT_EQ(q.start_sending(), "second");
  const auto step = q.answered(503);
  EXPECT_EQ(step.result, delivery_result::retry);
  EXPECT_EQ(step.retry_after, 1s);
}

TEST(delivery_queue, a_full_queue_drops_its_oldest_batches) {
  delivery_queue q(2);
  EXPECT_EQ(q.push("a"), 0u);
  EXPECT_EQ(q.push("b"), 0u);
  EXPECT_EQ(q.push("c"), 1u);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.start_sending(), "b");
  EXPECT_EQ(q.answered(200).result, delivery_result::ok);
  EXPECT_EQ(q.start_sending(), "c");
}

TEST(delivery_queue, a_batch_pushed_out_while_being_sent_is_not_retried_and_takes_no_other_batch_along) {
  delivery_queue q(1);
  q.push("old");
  EXPECT_EQ(q.start_sending(), "old");
  EXPECT_EQ(q.push("new"), 1u);  // "old" is counted as dropped here
  const auto step = q.answered(503);
  EXPECT_EQ(step.result, delivery_result::abandoned);
  EXPECT_EQ(result_label(step.result), "");  // counted once, as dropped
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q.start_sending(), "new");
}

TEST(delivery_queue, a_batch_pushed_out_but_delivered_meanwhile_leaves_the_next_one_queued) {
  delivery_queue q(1);
  q.push("old");
  q.start_sending();
  q.push("new");
  EXPECT_EQ(q.answered(200).result, delivery_result::ok);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q.start_sending(), "new");
}

// --- alert_batcher: what goes out, and when --------------------------------

alerts::alert_instance firing(const std::string& probe) {
  alerts::alert_instance a;
  a.rule = "ProbeDown";
  a.label_values = {{"alertname", "ProbeDown"}, {"probe", probe}, {"severity", "high"}};
  a.state = alerts::alert_state::firing;
  a.fired_at = t0;
  a.summary = probe + " is down";
  return a;
}

alerts::transition resolved(const alerts::alert_instance& a, wall_clock::time_point at) {
  return {alerts::transition::kind::resolved, a, at};
}

TEST(alert_batcher, a_firing_alert_goes_out_at_once_with_ends_at_four_intervals_ahead) {
  alert_batcher b;
  const auto batch = b.after_evaluation({}, {firing("api")}, t0, 60s);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_FALSE(batch[0].resolved);
  EXPECT_EQ(batch[0].alert.label_values.at("probe"), "api");
  EXPECT_EQ(batch[0].ends_at, t0 + 4min);
}

TEST(alert_batcher, a_firing_alert_is_sent_again_once_per_resend_interval_not_every_evaluation) {
  alert_batcher b;
  const auto api = firing("api");
  ASSERT_EQ(b.after_evaluation({}, {api}, t0, 60s).size(), 1u);
  EXPECT_TRUE(b.after_evaluation({}, {api}, t0 + 15s, 60s).empty());
  EXPECT_TRUE(b.after_evaluation({}, {api}, t0 + 59s, 60s).empty());
  const auto again = b.after_evaluation({}, {api}, t0 + 60s, 60s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].ends_at, t0 + 60s + 4min);  // pushed ahead by every re-send
}

TEST(alert_batcher, pending_alerts_are_not_sent) {
  alert_batcher b;
  auto pending = firing("api");
  pending.state = alerts::alert_state::pending;
  EXPECT_TRUE(b.after_evaluation({}, {pending}, t0, 60s).empty());
}

TEST(alert_batcher, a_resolved_alert_carries_its_resolution_time_and_is_repeated_for_four_intervals) {
  alert_batcher b;
  const auto api = firing("api");
  b.after_evaluation({}, {api}, t0, 60s);
  const auto at = t0 + 90s;
  const auto first = b.after_evaluation({resolved(api, at)}, {}, at, 60s);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(first[0].resolved);
  EXPECT_EQ(first[0].ends_at, at);

  std::vector<std::chrono::seconds> repeats;
  for (auto after = 15s; after <= 10min; after += 15s) {
    const auto batch = b.after_evaluation({}, {}, at + after, 60s);
    for (const auto& o : batch) {
      EXPECT_TRUE(o.resolved);
      EXPECT_EQ(o.ends_at, at);  // always when it resolved, never "now"
      repeats.push_back(after);
    }
  }
  EXPECT_EQ(repeats, (std::vector<std::chrono::seconds>{60s, 120s, 180s, 240s}));
}

TEST(alert_batcher, an_alert_that_fires_again_stops_its_resolved_repeats) {
  alert_batcher b;
  const auto api = firing("api");
  b.after_evaluation({}, {api}, t0, 60s);
  b.after_evaluation({resolved(api, t0 + 60s)}, {}, t0 + 60s, 60s);
  const auto refired = b.after_evaluation({}, {api}, t0 + 90s, 60s);
  ASSERT_EQ(refired.size(), 1u);  // firing again goes out at once, not a resend interval later
  EXPECT_FALSE(refired[0].resolved);
  EXPECT_EQ(refired[0].ends_at, t0 + 90s + 4min);
  for (auto now = t0 + 105s; now <= t0 + 10min; now += 15s)
    for (const auto& o : b.after_evaluation({}, {api}, now, 60s)) EXPECT_FALSE(o.resolved);
}

TEST(alert_batcher, each_alert_keeps_its_own_resend_time) {
  alert_batcher b;
  b.after_evaluation({}, {firing("api")}, t0, 60s);
  const auto later = b.after_evaluation({}, {firing("api"), firing("db")}, t0 + 30s, 60s);
  ASSERT_EQ(later.size(), 1u);  // only the new one
  EXPECT_EQ(later[0].alert.label_values.at("probe"), "db");
  const auto next = b.after_evaluation({}, {firing("api"), firing("db")}, t0 + 60s, 60s);
  ASSERT_EQ(next.size(), 1u);  // api's interval is up, db's is not
  EXPECT_EQ(next[0].alert.label_values.at("probe"), "api");
}

// --- alert_payload: what receivers read ------------------------------------

const alert_sender sender{"web-1", "http://web-1:9100/"};

TEST(alert_payload, alertmanager_gets_labels_with_instance_the_non_empty_annotations_and_rfc3339_times) {
  auto a = firing("api");
  a.runbook_url = "https://runbooks.example/ProbeDown.md";
  a.evidence = "cause: refused";
  const auto v = boost::json::parse(alertmanager_body({{a, false, t0 + 4min}}, sender));
  ASSERT_EQ(v.as_array().size(), 1u);
  const auto& o = v.as_array()[0].as_object();
  EXPECT_EQ(o.at("labels").at("alertname").as_string(), "ProbeDown");
  EXPECT_EQ(o.at("labels").at("probe").as_string(), "api");
  EXPECT_EQ(o.at("labels").at("instance").as_string(), "web-1");
  const auto& annotations = o.at("annotations").as_object();
  EXPECT_EQ(annotations.at("summary").as_string(), "api is down");
  EXPECT_EQ(annotations.at("runbook_url").as_string(), "https://runbooks.example/ProbeDown.md");
  EXPECT_EQ(annotations.at("evidence").as_string(), "cause: refused");
  EXPECT_FALSE(annotations.contains("description"));  // empty: left out
  EXPECT_EQ(o.at("startsAt").as_string(), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(o.at("endsAt").as_string(), "2023-11-14T22:17:20.000Z");
  EXPECT_EQ(o.at("generatorURL").as_string(), "http://web-1:9100/");
}

TEST(alert_payload, webhook_has_alertmanagers_shape_with_a_status_per_alert_and_overall) {
  const auto mixed = boost::json::parse(webhook_body({{firing("api"), false, t0}, {firing("db"), true, t0}}, sender));
  EXPECT_EQ(mixed.at("version").as_string(), "4");
  EXPECT_EQ(mixed.at("status").as_string(), "firing");  // any firing
  EXPECT_EQ(mixed.at("groupKey").as_string(), "vitalsd:web-1");
  EXPECT_EQ(mixed.at("commonLabels").at("instance").as_string(), "web-1");
  EXPECT_EQ(mixed.at("externalURL").as_string(), "http://web-1:9100/");
  const auto& list = mixed.at("alerts").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("status").as_string(), "firing");
  EXPECT_EQ(list[1].at("status").as_string(), "resolved");

  const auto all_resolved = boost::json::parse(webhook_body({{firing("db"), true, t0}}, sender));
  EXPECT_EQ(all_resolved.at("status").as_string(), "resolved");
}

TEST(alert_payload, bodies_are_valid_utf8_when_labels_and_evidence_hold_ill_formed_bytes) {
  // Alertmanager refuses a whole batch over one ill-formed label value.
  const std::string fffd = "\xEF\xBF\xBD";
  auto a = firing("api");
  a.label_values["process"] = "\xff";
  a.evidence = "cause: owned by \xED\xA0\x80\nbody: \xE2\x82";
  for (const auto& body : {alertmanager_body({{a, false, t0}}, sender), webhook_body({{a, false, t0}}, sender)}) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(body, ec);  // strict: ill-formed UTF-8 is a parse error
    ASSERT_FALSE(ec) << ec.message();
    const auto& alert = v.is_array() ? v.as_array()[0] : v.at("alerts").as_array()[0];
    EXPECT_EQ(alert.at("labels").at("process").as_string(), fffd);
    EXPECT_EQ(alert.at("annotations").at("evidence").as_string(),
              "cause: owned by " + fffd + fffd + fffd + "\nbody: " + valid_utf8("\xE2\x82"));
  }
}

TEST(alert_payload, alerts_go_to_api_v2_alerts_under_the_alertmanager_path) {
  EXPECT_EQ(alertmanager_alerts_target("/"), "/api/v2/alerts");
  EXPECT_EQ(alertmanager_alerts_target(""), "/api/v2/alerts");
  EXPECT_EQ(alertmanager_alerts_target("/alertmanager//"), "/alertmanager/api/v2/alerts");
  EXPECT_EQ(alertmanager_alerts_target("/am/?token=abc"), "/am/api/v2/alerts?token=abc");
  EXPECT_EQ(alertmanager_alerts_target("?token=abc"), "/api/v2/alerts?token=abc");
}

}  // namespace
}  // namespace vitals
