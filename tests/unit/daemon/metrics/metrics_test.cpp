#include "daemon/metrics/metrics.hpp"

#include "daemon/metrics/exposition.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/valid_text.hpp"
#include "support/fake_kind.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <limits>
#include <string>
#include <utility>

using namespace vitals;
using namespace std::string_literals;

namespace {

using test::fake_registry;
probe_settings settings(std::string name) { return test::fake_settings(std::move(name)); }
run_outcome outcome(bool ok, std::vector<sample> samples = {}) { return test::fake_outcome(ok, std::move(samples)); }

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST(metrics, probe_without_a_run_exports_counters_but_no_success_or_up) {
  auto registry = fake_registry();
  metrics m(registry);
  m.probe_added(settings("api"));
  const auto text = m.serialize();
  EXPECT_TRUE(has_line(text, R"(vitals_probe_runs_total{kind="fake",probe="api",result="ok"} 0)")) << text;
  EXPECT_EQ(text.find("vitals_probe_success{"), std::string::npos);
  EXPECT_EQ(text.find("vitals_probe_up{"), std::string::npos);
}

TEST(metrics, run_sets_success_up_duration_timestamp_and_kind_samples) {
  auto registry = fake_registry();
  metrics m(registry);
  m.probe_added(settings("api"));
  m.run_finished(settings("api"), outcome(false, {{"vitals_fake_value", {{"slot", "7"}}, 42}}), false);
  const auto text = m.serialize();
  EXPECT_TRUE(has_line(text, R"(vitals_probe_success{kind="fake",probe="api"} 0)")) << text;
  EXPECT_TRUE(has_line(text, R"(vitals_probe_up{kind="fake",probe="api"} 0)"));
  EXPECT_TRUE(has_line(text, R"(vitals_probe_runs_total{kind="fake",probe="api",result="fail"} 1)"));
  EXPECT_TRUE(has_line(text, R"(vitals_probe_duration_seconds_count{kind="fake",probe="api"} 1)"));
  EXPECT_TRUE(has_line(text, R"(vitals_probe_last_run_timestamp_seconds{kind="fake",probe="api"} 1700000000)"));
  EXPECT_TRUE(has_line(text, R"(vitals_fake_value{probe="api",slot="7"} 42)"));
  EXPECT_TRUE(has_line(text, "# TYPE vitals_fake_value gauge"));
}

TEST(metrics, failure_info_names_the_reason_while_the_last_run_failed) {
  auto registry = fake_registry();
  metrics m(registry);
  m.probe_added(settings("api"));
  m.run_finished(settings("api"), outcome(false), false);
  EXPECT_TRUE(has_line(m.serialize(), R"(vitals_probe_failure_info{kind="fake",probe="api",reason="refused"} 1)"));
  auto timed_out = outcome(false);
  timed_out.timed_out = true;
  m.run_finished(settings("api"), timed_out, false);
  EXPECT_TRUE(has_line(m.serialize(), R"(vitals_probe_failure_info{kind="fake",probe="api",reason="timeout"} 1)"));
  m.run_finished(settings("api"), outcome(true), true);
  EXPECT_EQ(m.serialize().find("vitals_probe_failure_info{"), std::string::npos);
}

TEST(metrics, kind_sample_series_follow_the_last_run_only) {
  auto registry = fake_registry();
  metrics m(registry);
  m.probe_added(settings("api"));
  m.run_finished(settings("api"), outcome(true, {{"vitals_fake_value", {{"slot", "old"}}, 1}}), true);
  m.run_finished(settings("api"), outcome(true, {{"vitals_fake_value", {{"slot", "new"}}, 1}}), true);
  const auto text = m.serialize();
  EXPECT_EQ(text.find(R"(slot="old")"), std::string::npos);
  EXPECT_NE(text.find(R"(slot="new")"), std::string::npos);
}

TEST(metrics, each_sample_keeps_its_own_labels_whatever_the_runs_before_carried) {
  auto registry = fake_registry();
  metrics m(registry);
  m.probe_added(settings("api"));
  m.run_finished(settings("api"),
                 outcome(true, {{"vitals_fake_value", {{"slot", "a"}, {"zone", "b"}}, 1},
                                {"vitals_fake_events_total", {}, 3},
                                {"vitals_fake_value", {{"slot", "c"}}, 2}}),
                 true);
  auto text = m.serialize();
  EXPECT_TRUE(has_line(text, R"(vitals_fake_value{probe="api",slot="a",zone="b"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(vitals_fake_value{probe="api",slot="c"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(vitals_fake_events_total{probe="api"} 3)")) << text;

  // A snapshot still holds the series, so the next run is written to a copy.
  const auto held = m.snapshot();
  m.run_finished(settings("api"),
                 outcome(true, {{"vitals_fake_events_total", {}, 4}, {"vitals_fake_value", {{"zone", "longer than before"}}, 5}}),
                 true);
  text = m.serialize();
  EXPECT_TRUE(has_line(text, R"(vitals_fake_value{probe="api",zone="longer than before"} 5)")) << text;
  EXPECT_TRUE(has_line(text, R"(vitals_fake_events_total{probe="api"} 4)")) << text;
  EXPECT_EQ(text.find(R"(slot=)"), std::string::npos) << text;
  EXPECT_TRUE(has_line(held->text(), R"(vitals_fake_value{probe="api",slot="a",zone="b"} 1)"));

  // And a run like the last one, into the same buffers.
  m.run_finished(settings("api"), outcome(true, {{"vitals_fake_value", {}, 6}}), true);
  text = m.serialize();
  EXPECT_TRUE(has_line(text, R"(vitals_fake_value{probe="api"} 6)")) << text;
  EXPECT_EQ(text.find("vitals_fake_events_total{"), std::string::npos) << text;
}

TEST(metrics, counters_from_a_target_are_exported_as_counters_with_their_value) {
  auto registry = fake_registry();
  metrics m(registry);
  m.probe_added(settings("api"));
  m.run_finished(settings("api"), outcome(true, {{"vitals_fake_events_total", {}, 12345}}), true);
  const auto text = m.serialize();
  EXPECT_TRUE(has_line(text, "# TYPE vitals_fake_events_total counter"));
  EXPECT_TRUE(has_line(text, R"(vitals_fake_events_total{probe="api"} 12345)"));
}

TEST(metrics, a_mistyped_sample_name_is_caught_and_never_exported) {
  auto registry = fake_registry();
  metrics m(registry);
  m.probe_added(settings("api"));
  // A name the kind did not declare is a probe bug: debug builds (the test
  // suite's) stop at once; release builds log it and leave it out.
  EXPECT_DEBUG_DEATH(m.run_finished(settings("api"), outcome(true, {{"vitals_fake_valeu", {}, 1}}), true),
                     "does not declare");
#ifdef NDEBUG
  EXPECT_EQ(m.serialize().find("vitals_fake_valeu"), std::string::npos);
#endif
}

TEST(metrics, removed_probe_leaves_no_series_behind) {
  auto registry = fake_registry();
  metrics m(registry);
  m.probe_added(settings("gone"));
  m.run_finished(settings("gone"), outcome(true, {{"vitals_fake_value", {}, 1}}), true);
  m.run_skipped(settings("gone"));
  m.probe_removed(settings("gone"));
  EXPECT_EQ(m.serialize().find(R"(probe="gone")"), std::string::npos);
}

TEST(metrics, self_series_are_present) {
  auto registry = fake_registry();
  metrics m(registry);
  m.config_loaded(true);
  m.scheduler_lag(0.002);
  const auto text = m.serialize();
  EXPECT_NE(text.find("vitals_build_info{revision="), std::string::npos);
  EXPECT_TRUE(has_line(text, "vitals_config_last_reload_successful 1"));
  EXPECT_TRUE(has_line(text, "vitals_scheduler_lag_seconds_count 1"));
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                           "process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes"})
    EXPECT_NE(text.find(std::string("\n") + name + " "), std::string::npos) << name;
  m.config_loaded(false);
  EXPECT_TRUE(has_line(m.serialize(), "vitals_config_last_reload_successful 0"));
}

// The value of an unlabelled sample, or -1 when the text has none.
double unlabelled_value(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

// A number of kB from a line of /proc/self/status ("VmRSS:", "VmSize:").
double status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(key.size()));
  return -1;
}

TEST(metrics, self_cpu_and_memory_are_what_the_kernel_counts) {
  auto registry = fake_registry();
  metrics m(registry);
  // The process has spent at least 60 ms of CPU (the kernel's own count),
  // and the counter shows it, give or take the clocks' granularity.
  const auto process_cpu = [] {
    timespec t{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
  };
  volatile std::uint64_t spin = 0;
  while (process_cpu() < 0.06) spin = spin + 1;
  const double cpu_before = process_cpu();
  const double rss_before = status_kib("VmRSS:") * 1024;
  const auto text = m.serialize();
  const double rss_after = status_kib("VmRSS:") * 1024;

  EXPECT_GE(unlabelled_value(text, "process_cpu_seconds_total"), cpu_before - 0.01);
  const double rss = unlabelled_value(text, "process_resident_memory_bytes");
  EXPECT_GE(rss, 0.9 * std::min(rss_before, rss_after));
  EXPECT_LE(rss, 1.1 * std::max(rss_before, rss_after));
  EXPECT_NEAR(unlabelled_value(text, "process_virtual_memory_bytes"), status_kib("VmSize:") * 1024,
              0.1 * status_kib("VmSize:") * 1024);
}

// --- label values from a target: Prometheus rejects a whole scrape over one --

TEST(exposition, label_value_is_valid_utf8_with_quote_backslash_and_newline_escaped) {
  const std::string fffd = "\xEF\xBF\xBD";
  std::string out;
  exposition::append_label(out, "process", "\xff|\xE2\x82|\xED\xA0\x80|\0|\"|\\|\n"s, true);
  // NUL is a valid code point and the format allows it; only \, " and newline are escaped.
  EXPECT_EQ(out, "process=\"" + fffd + "|" + valid_utf8("\xE2\x82") + "|" + fffd + fffd + fffd + "|\0|\\\"|\\\\|\\n\""s);

  std::string later;  // ill-formed bytes after an escape, and valid UTF-8 kept as it is
  exposition::append_label_value(later, "a\"b\xff");
  exposition::append_label_value(later, "|日\n本 ✓");
  EXPECT_EQ(later, "a\\\"b" + fffd + "|日\\n本 ✓");
}

TEST(exposition, a_label_value_written_in_place_is_what_append_writes_and_fits_its_bound) {
  for (const std::string& value : {""s, "plain"s, "say \"hi\"\n"s, "\\"s, "caf\xC3\xA9 \xE2\x9C\x93"s, "\xff"s,
                                  "abc\xE2\x82"s, "\n\n\n"s, std::string(300, 'x') + "\xC0\x80\"" + "\0tail"s}) {
    std::string appended;
    exposition::append_label_value(appended, value);
    std::string written(exposition::max_label_value_size(value.size()), '\0');
    written.resize(static_cast<std::size_t>(exposition::write_label_value(written.data(), value) - written.data()));
    EXPECT_EQ(written, appended) << value;
  }
  const std::pair<double, std::string> values[] = {
      {0.0, "0"},         {-3.0, "-3"},      {1.5, "1.5"},
      {1e300, "1e+300"},  {-1e-300, "-1e-300"}, {9.0e15, "9e+15"},
      {1700000000.25, "1700000000.25"},      {std::nan(""), "NaN"},
      {std::numeric_limits<double>::infinity(), "+Inf"}, {-std::numeric_limits<double>::infinity(), "-Inf"}};
  for (const auto& [v, text] : values) {
    char buf[exposition::max_value_size];
    EXPECT_EQ(std::string(buf, exposition::write_value(buf, v)), text);
  }
}

TEST(metrics, labels_a_target_filled_with_ill_formed_bytes_are_exported_as_valid_utf8) {
  auto registry = fake_registry();
  metrics m(registry);
  m.probe_added(settings("api"));
  auto failed = outcome(false, {{"vitals_fake_value", {{"process", "\xff"}}, 1}});
  failed.result.reason = "odd\xE2\x82";
  m.run_finished(settings("api"), failed, false);
  const auto text = m.serialize();
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_TRUE(has_line(text, "vitals_fake_value{probe=\"api\",process=\"\xEF\xBF\xBD\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "vitals_probe_failure_info{kind=\"fake\",probe=\"api\",reason=\"" + valid_utf8("odd\xE2\x82") +
                                 "\"} 1"));
}
