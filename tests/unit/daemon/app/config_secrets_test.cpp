// What a load does with ${env:}/${file:} values beyond filling them in: the
// config carries them as a redactor, its errors and alert rules never show
// them, and names cannot be made of them.

#include "daemon/app/config.hpp"

#include "test_probe_kind.hpp"

#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

using test::scoped_env;
using test::temp_file;
using test_kinds::test_loader;

std::string all_errors(const load_result& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

TEST(config_secrets, the_config_carries_the_substituted_pieces_not_whole_values) {
  scoped_env port("VITALS_TEST_PORT", "40517");
  temp_file token("tok-8812\n");
  test_loader t;
  auto r = t.load("probes:\n"
                  "  - name: api\n"
                  "    type: fake\n"
                  "    target: \"127.0.0.1:${env:VITALS_TEST_PORT}\"\n"
                  "    token: \"Bearer ${file:" + token.path() + "}\"\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  const auto secrets = r.cfg->secrets.secrets();
  ASSERT_EQ(secrets.size(), 2u);
  EXPECT_EQ(secrets[0], "40517");
  EXPECT_EQ(secrets[1], "tok-8812");
  EXPECT_EQ(r.cfg->secrets.redacted(r.cfg->probes[0].instance->target()), "127.0.0.1:<redacted>");
}

TEST(config_secrets, a_config_without_references_redacts_nothing) {
  test_loader t;
  auto r = t.load("probes:\n  - {name: api, type: fake, target: \"127.0.0.1:1\"}\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  EXPECT_TRUE(r.cfg->secrets.empty());
}

TEST(config_secrets, an_error_quoting_a_value_with_a_secret_inside_shows_it_redacted) {
  scoped_env hook("VITALS_TEST_HOOK", "hook-s3cr3t");
  test_loader t;
  auto r = t.validate("notify:\n"
                      "  alertmanager:\n"
                      "    urls: [\"ftp://am.internal/${env:VITALS_TEST_HOOK}\"]\n");
  ASSERT_EQ(r.cfg, nullptr);
  EXPECT_EQ(all_errors(r).find("hook-s3cr3t"), std::string::npos) << all_errors(r);
  EXPECT_NE(all_errors(r).find("notify.alertmanager.urls[0]: <redacted>"), std::string::npos) << all_errors(r);
}

TEST(config_secrets, a_probe_name_cannot_come_from_a_reference) {
  scoped_env name("VITALS_TEST_NAME", "db-primary");
  test_loader t;
  auto r = t.validate("probes:\n  - {name: \"${env:VITALS_TEST_NAME}\", type: fake, target: \"h:1\"}\n");
  ASSERT_EQ(r.cfg, nullptr);
  EXPECT_EQ(all_errors(r),
            "test.yaml:2:12: probes[0].name: cannot come from ${env:…} or ${file:…}: the name is shown everywhere\n");
}

const char* const rule_with_secrets =
    "alerts:\n"
    "  rules:\n"
    "    - name: Paging\n"
    "      when: vitals_probe_up{probe=\"${env:VITALS_TEST_SECRET}\"} == 0\n"
    "      labels: {route: \"pager-${env:VITALS_TEST_SECRET}\"}\n"
    "      summary: \"call ${env:VITALS_TEST_SECRET}\"\n"
    "      description: \"key ${env:VITALS_TEST_SECRET}\"\n"
    "      runbook_url: \"https://wiki/${env:VITALS_TEST_SECRET}\"\n";

TEST(config_secrets, alert_rule_labels_and_annotations_are_redacted_when_loaded) {
  scoped_env secret("VITALS_TEST_SECRET", "rk-5512");
  test_loader t;
  auto r = t.validate(rule_with_secrets);
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  const auto& rule = r.cfg->alert_rules.back();
  ASSERT_EQ(rule.name, "Paging");
  EXPECT_EQ(rule.labels.at("route"), "pager-<redacted>");
  EXPECT_EQ(rule.summary, "call <redacted>");
  EXPECT_EQ(rule.description, "key <redacted>");
  EXPECT_EQ(rule.runbook_url, "https://wiki/<redacted>");
  // The expression selects series as /metrics shows them: redacted too.
  EXPECT_EQ(rule.when->text(), "vitals_probe_up{probe=\"<redacted>\"} == 0");
  EXPECT_EQ(rule.when_text, rule.when->text());
}

TEST(config_secrets, a_secret_in_a_metric_name_of_when_is_an_error) {
  scoped_env secret("VITALS_TEST_SECRET", "up");
  test_loader t;
  auto r = t.validate("alerts:\n  rules:\n    - {name: Odd, when: \"vitals_probe_${env:VITALS_TEST_SECRET} == 0\"}\n");
  ASSERT_EQ(r.cfg, nullptr);
  EXPECT_NE(all_errors(r).find("rule Odd: a value from ${env:…} or ${file:…} in when must be a whole label value"),
            std::string::npos)
      << all_errors(r);
}

}  // namespace
}  // namespace vitals
