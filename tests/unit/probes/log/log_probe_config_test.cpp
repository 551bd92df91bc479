#include "probes/log/log_probe.hpp"

#include "support/probe_config_fixture.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

using log_probe_config = test::probe_config_fixture<log_probe>;

TEST_F(log_probe_config, path_and_a_regex_pattern_build_a_probe_reading_from_the_end) {
  auto* p = create(R"(
probes:
  - name: api-log
    type: log
    path: /srv/app/logs/*.log
    patterns:
      - {name: error, regex: 'ERROR|Error:'}
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok());
  EXPECT_EQ(p->target(), "/srv/app/logs/*.log");
  EXPECT_FALSE(p->config().from_beginning);
  EXPECT_EQ(p->config().max_read_per_run, 16u << 20);
  ASSERT_EQ(p->config().patterns->size(), 1u);
  EXPECT_EQ((*p->config().patterns)[0].name(), "error");
}

TEST_F(log_probe_config, every_log_key_counts_as_known) {
  auto* p = create(R"(
probes:
  - name: api-log
    type: log
    path: /srv/app/app.log
    from: beginning
    max_read_per_run: 1MiB
    max_files: 50
    patterns:
      - name: refused
        regex: 'connect (?P<code>E[A-Z]+)'
        group_by: code
      - name: slow
        json: {ms: {gte: 1000}, level: [warn, error], "req.method": GET, trace: {exists: true}}
        group_by: req.path
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok()) << only_error();
  EXPECT_TRUE(p->config().from_beginning);
  EXPECT_EQ(p->config().max_read_per_run, 1u << 20);
  EXPECT_EQ(p->config().max_files, 50u);
  EXPECT_TRUE((*p->config().patterns)[1].is_json());
}

TEST_F(log_probe_config, journal_unit_gets_its_service_suffix_in_the_target) {
  auto* p = create(R"(
probes:
  - name: session
    type: log
    journal: {unit: harmonyflow-session, directory: /var/log/journal}
    patterns: [{name: error, regex: error}]
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().source, log_probe_settings::source_kind::journal);
  EXPECT_EQ(p->target(), "journal harmonyflow-session.service");
}

TEST_F(log_probe_config, docker_container_defaults_to_the_docker_root) {
  auto* p = create(R"(
probes:
  - name: api
    type: log
    docker: {container: api}
    patterns: [{name: error, regex: ERROR}]
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().docker_root, "/var/lib/docker");
  EXPECT_EQ(p->target(), "container api");
}

TEST_F(log_probe_config, no_source_is_an_error_at_the_probe) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, patterns: [{name: e, regex: x}]}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0]: needs a source: path, journal or docker"), std::string::npos) << only_error();
}

TEST_F(log_probe_config, two_sources_are_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log, docker: {container: c}, "
                   "patterns: [{name: e, regex: x}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("set only one of path, journal and docker"), std::string::npos) << only_error();
}

TEST_F(log_probe_config, invalid_regex_is_an_error_at_the_regex_quoting_it) {
  EXPECT_EQ(create(R"(
probes:
  - name: a
    type: log
    path: /x.log
    patterns:
      - {name: e, regex: 'a(b'}
)"),
            nullptr);
  EXPECT_EQ(only_error(),
            "vitals.yaml:7:26: probes[0].patterns[0].regex: \"a(b\" is not a valid regular expression: "
            "missing ): a(b");
}

TEST_F(log_probe_config, group_by_naming_no_group_is_an_error_at_group_by) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log, "
                   "patterns: [{name: e, regex: 'E(\\w+)', group_by: code}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("patterns[0].group_by: \"code\" names no capture group"), std::string::npos)
      << only_error();
}

TEST_F(log_probe_config, duplicate_pattern_names_are_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log, "
                   "patterns: [{name: e, regex: x}, {name: e, regex: y}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("patterns[1].name: \"e\" is already the name of another pattern"), std::string::npos)
      << only_error();
}

TEST_F(log_probe_config, pattern_with_both_regex_and_json_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log, "
                   "patterns: [{name: e, regex: x, json: {level: error}}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("patterns[0]: set either regex or json, not both"), std::string::npos) << only_error();
}

TEST_F(log_probe_config, unknown_comparison_is_an_error_naming_the_known_ones) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log, "
                   "patterns: [{name: e, json: {level: {greater: 50}}}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("json.level.greater: \"greater\" is not a comparison (eq, ne, gt, gte, lt, lte, exists)"),
            std::string::npos)
      << only_error();
}

TEST_F(log_probe_config, numeric_comparison_needs_a_number) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log, "
                   "patterns: [{name: e, json: {level: {gte: high}}}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("json.level.gte"), std::string::npos) << only_error();
}

TEST_F(log_probe_config, relative_path_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: logs/app.log, patterns: [{name: e, regex: x}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("\"logs/app.log\" is not an absolute path"), std::string::npos) << only_error();
}

TEST_F(log_probe_config, read_budget_below_one_line_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log, max_read_per_run: 1KiB, "
                   "patterns: [{name: e, regex: x}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("max_read_per_run: must be at least 64KiB"), std::string::npos) << only_error();
}

TEST_F(log_probe_config, missing_patterns_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].patterns: missing required key"), std::string::npos) << only_error();
}

TEST_F(log_probe_config, pattern_name_with_a_space_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log, patterns: [{name: 'an error', regex: x}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("may hold only letters, digits and _ . : -"), std::string::npos) << only_error();
}

TEST_F(log_probe_config, pattern_named_like_the_probes_own_evidence_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, path: /x.log, patterns: [{name: read, regex: x}]}\n"), nullptr);
  EXPECT_NE(only_error().find("\"read\" is a name the probe's evidence uses; choose another"), std::string::npos)
      << only_error();
}

TEST_F(log_probe_config, docker_container_name_with_a_slash_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, docker: {container: ../etc}, patterns: [{name: e, regex: x}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("is not a container name"), std::string::npos) << only_error();
}

TEST_F(log_probe_config, journal_needs_a_unit_or_an_identifier) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: log, journal: {directory: /j}, patterns: [{name: e, regex: x}]}\n"),
            nullptr);
  EXPECT_NE(only_error().find("probes[0].journal: needs a unit or an identifier"), std::string::npos) << only_error();
}

}  // namespace
}  // namespace vitals
