// The scheduler is where results enter the daemon: a secret a target
// echoed is <redacted> before the metrics, alerts, state or API see it.

#include "daemon/sched/scheduler.hpp"

#include "support/fake_probe.hpp"
#include "support/run_until.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace std::chrono_literals;
using namespace vitals;
using test::make_spec;
using test::run_until;

namespace {

const std::string secret = "canary-4f9Q";

// A target that echoes the secret into every text a result has, and whose
// URL holds it in the query.
class echoing_probe final : public probe {
public:
  asio::awaitable<probe_result> run() override {
    auto r = probe_result::failure("status", "status 500: {\"echo\":\"" + secret + "\"}");
    r.evidence.emplace_back("x-signature", secret);
    r.evidence.emplace_back("echo " + secret, "ok");
    r.samples.push_back({"vitals_fake_value", {{"field", "q=" + secret}}, 1});
    co_return r;
  }
  std::string target() const override { return "http://127.0.0.1:1/health?access_token=" + secret; }
};

struct last_run_sink final : run_sink {
  std::optional<run_outcome> last;
  void run_finished(const probe_settings&, const run_outcome& o, std::optional<bool>) override { last = o; }
};

}  // namespace

TEST(scheduler_redaction, every_text_of_a_result_is_redacted_before_the_sink_sees_it) {
  asio::io_context io;
  last_run_sink sink;
  scheduler s(io, sink, [](steady_clock::duration) { return steady_clock::duration::zero(); });
  std::vector<probe_spec> probes;
  probes.push_back(make_spec("echo", std::make_shared<echoing_probe>(), std::chrono::hours(1), 1s));
  s.apply(probes, redactor({secret}));
  ASSERT_TRUE(run_until(io, [&] { return sink.last.has_value(); }));

  const auto& r = sink.last->result;
  EXPECT_EQ(r.error, "status 500: {\"echo\":\"<redacted>\"}");
  ASSERT_EQ(r.evidence.size(), 2u);
  EXPECT_EQ(r.evidence[0].second, "<redacted>");
  EXPECT_EQ(r.evidence[1].first, "echo <redacted>");
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.samples[0].labels.at("field"), "q=<redacted>");
  // What the API and the state store read afterwards is the same result.
  ASSERT_TRUE(s.status_of("echo")->last.has_value());
  EXPECT_EQ(s.status_of("echo")->last->result.error, r.error);
}

TEST(scheduler_redaction, a_target_is_redacted_when_the_probe_is_registered) {
  asio::io_context io;
  last_run_sink sink;
  scheduler s(io, sink);
  std::vector<probe_spec> probes;
  probes.push_back(make_spec("echo", std::make_shared<echoing_probe>(), std::chrono::hours(1), 1s));
  s.apply(probes, redactor({secret}));
  EXPECT_EQ(s.status_of("echo")->target, "http://127.0.0.1:1/health?access_token=<redacted>");
}

TEST(scheduler_redaction, redact_covers_every_text_make_valid_utf8_covers) {
  probe_result r = probe_result::failure("odd-" + secret, "cause " + secret);
  r.evidence.emplace_back(secret, secret);
  r.samples.push_back({"vitals_fake_value", {{"process", secret}}, 1});
  redact(r, redactor({secret}));
  EXPECT_EQ(r.reason, "odd-<redacted>");
  EXPECT_EQ(r.error, "cause <redacted>");
  EXPECT_EQ(r.evidence[0], (std::pair<std::string, std::string>("<redacted>", "<redacted>")));
  EXPECT_EQ(r.samples[0].labels.at("process"), "<redacted>");
}
