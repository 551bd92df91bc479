// Alert annotations: the part of Prometheus's template language rules use.

#include "daemon/alerts/alert_template.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace vitals::alerts {
namespace {

TEST(alert_templates, labels_value_and_the_humanize_family) {
  const labels l{{"probe", "cache"}};
  EXPECT_EQ(render_template("{{ $labels.probe }} at {{ $value | humanizePercentage }}", l, 0.9312), "cache at 93.12%");
  EXPECT_EQ(render_template("{{$value|humanize}}", l, 1234567), "1.235M");
  EXPECT_EQ(render_template("{{ $value | humanize }}", l, 0.00123), "1.23m");
  EXPECT_EQ(render_template("{{ $value | humanize1024 }}B", l, 2147483648.0), "2GiB");
  EXPECT_EQ(render_template("{{ $value | humanizeDuration }}", l, 3725), "1h 2m 5s");
  EXPECT_EQ(render_template("{{ $value | humanizeDuration }}", l, 90061), "1d 1h 1m 1s");
  EXPECT_EQ(render_template("{{ $value | humanizeDuration }}", l, 0.25), "250ms");
  // Beyond what a long long holds: no overflow (found by fuzz_alert_template).
  EXPECT_EQ(render_template("{{ $value | humanizeDuration }}", l, 1e300), "1e+300s");
  EXPECT_EQ(render_template("{{ $value | humanizeDuration }}", l, -1e19), "-1e+19s");
  EXPECT_EQ(render_template("{{ $value }}", l, 0.85), "0.85");
  EXPECT_EQ(render_template("{{ $labels.missing }}|", l, 0), "|");
  EXPECT_EQ(render_template("{{ .Unknown }} stays", l, 0), "{{ .Unknown }} stays");
  EXPECT_EQ(template_problem("ok {{ $value | humanize }}"), std::nullopt);
  EXPECT_NE(template_problem("{{ $value | printf \"%.2f\" }}"), std::nullopt);
  EXPECT_EQ(template_problem("{{ $labels.probe"), "\"{{\" is not closed by \"}}\"");
}

}  // namespace
}  // namespace vitals::alerts
