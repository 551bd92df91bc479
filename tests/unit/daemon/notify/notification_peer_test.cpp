// The `peer` label of the notification series: a receiver's host:port and
// nothing else of its URL, and never a credential — neither one written
// into the URL (refused, and not repeated in the error) nor a host filled in
// by a reference.

#include "daemon/app/config.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/notify/notifier.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/net/web_target.hpp"

#include "support/temp_env.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace vitals {
namespace {

std::string peer_of(const std::string& url_text) {
  std::string why;
  const auto url = parse_web_url(url_text, false, why);
  EXPECT_TRUE(url) << url_text << ": " << why;
  return url ? notification_peer(*url) : "";
}

TEST(notification_peer, is_the_urls_host_and_port_without_its_path_or_query) {
  EXPECT_EQ(peer_of("http://am-1.example:9093/alertmanager/?token=t0k3n"), "am-1.example:9093");
}

TEST(notification_peer, writes_the_schemes_default_port) {
  EXPECT_EQ(peer_of("http://am.example/"), "am.example:80");
  EXPECT_EQ(peer_of("https://am.example"), "am.example:443");
}

TEST(notification_peer, brackets_an_ipv6_address) { EXPECT_EQ(peer_of("http://[::1]:9093/"), "[::1]:9093"); }

// Every notification series /metrics shows now.
std::string notification_series(const metrics& m) {
  std::string out;
  const auto text = m.serialize();
  for (std::size_t at = 0; at < text.size();) {
    const auto end = std::min(text.find('\n', at), text.size());
    const auto line = text.substr(at, end - at);
    if (line.starts_with("vitals_notification")) out += line + "\n";
    at = end + 1;
  }
  return out;
}

notify_settings receivers(std::vector<std::string> alertmanager_urls, std::string webhook_url = "") {
  notify_settings s;
  s.alertmanager_urls = std::move(alertmanager_urls);
  s.webhook_url = std::move(webhook_url);
  return s;
}

struct notifier_on_metrics {
  boost::asio::io_context io;  // never run: configure() sends nothing
  probe_registry registry;
  metrics m{registry};
  notifier n{io, m, "host", "http://host:9273/"};
};

TEST(notifier, every_peer_has_its_own_series_from_the_start_with_every_result_at_zero) {
  notifier_on_metrics t;
  t.n.configure(receivers({"http://127.0.0.1:9093/", "http://am-2.example:9093/prefix?x=1"},
                          "https://hooks.example/alerts"));
  const auto series = notification_series(t.m);
  for (const auto* peer : {"127.0.0.1:9093", "am-2.example:9093"}) {
    const std::string am = "notifier=\"alertmanager\",peer=\"" + std::string(peer) + "\"";
    EXPECT_NE(series.find("vitals_notification_queue_length{" + am + "} 0\n"), std::string::npos) << series;
    for (const auto* result : {"ok", "retry", "rejected", "failed", "dropped"})
      EXPECT_NE(series.find("vitals_notifications_total{" + am + ",result=\"" + result + "\"} 0\n"),
                std::string::npos)
          << result << "\n"
          << series;
  }
  EXPECT_NE(series.find("vitals_notification_queue_length{notifier=\"webhook\",peer=\"hooks.example:443\"} 0\n"),
            std::string::npos)
      << series;
  EXPECT_EQ(series.find("prefix"), std::string::npos) << series;
}

TEST(notifier, a_peer_no_longer_configured_loses_its_queue_length_and_keeps_its_counters) {
  notifier_on_metrics t;
  t.n.configure(receivers({"http://am-1.example:9093/", "http://am-2.example:9093/"}));
  t.n.configure(receivers({"http://am-1.example:9093/"}));
  const auto series = notification_series(t.m);
  EXPECT_NE(series.find("vitals_notification_queue_length{notifier=\"alertmanager\",peer=\"am-1.example:9093\"}"),
            std::string::npos)
      << series;
  EXPECT_EQ(series.find("vitals_notification_queue_length{notifier=\"alertmanager\",peer=\"am-2.example:9093\"}"),
            std::string::npos)
      << series;
  EXPECT_NE(series.find("vitals_notifications_total{notifier=\"alertmanager\",peer=\"am-2.example:9093\""),
            std::string::npos)
      << series;
}

TEST(notifier, a_host_filled_in_by_a_reference_shows_as_redacted_in_the_peer_label) {
  notifier_on_metrics t;
  t.n.configure(receivers({"http://am-s3cret.internal:9093/"}), redactor({"am-s3cret.internal"}));
  const auto series = notification_series(t.m);
  EXPECT_EQ(series.find("s3cret"), std::string::npos) << series;
  EXPECT_NE(series.find("peer=\"<redacted>:9093\""), std::string::npos) << series;
}

TEST(notifier, a_url_with_a_user_and_password_never_reaches_the_series) {
  notifier_on_metrics t;
  t.n.configure(receivers({"http://alice:s3cret@127.0.0.1:9093/", "http://127.0.0.1:9094/"}));
  const auto series = notification_series(t.m);
  EXPECT_EQ(series.find("s3cret"), std::string::npos) << series;
  EXPECT_EQ(series.find("alice"), std::string::npos) << series;
  EXPECT_NE(series.find("peer=\"127.0.0.1:9094\""), std::string::npos) << series;
}

TEST(notify_settings, a_url_with_a_user_and_password_is_refused_without_repeating_them) {
  probe_registry registry;
  const auto r = load_config_text("notify:\n"
                                  "  alertmanager:\n"
                                  "    urls: [\"http://127.0.0.1:9093/\", \"http://alice:s3cret@127.0.0.1:9094/x\"]\n",
                                  "vitals.yaml", registry);
  ASSERT_EQ(r.cfg, nullptr);
  std::string errors;
  for (const auto& e : r.errors) errors += e.str() + "\n";
  EXPECT_EQ(errors.find("s3cret"), std::string::npos) << errors;
  EXPECT_NE(errors.find("notify.alertmanager.urls[1]: \"http://<redacted>@127.0.0.1:9094/x\" carries a user or "
                        "password"),
            std::string::npos)
      << errors;
}

}  // namespace
}  // namespace vitals
