#include "probes/core/node_reader.hpp"

#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace vitals {
namespace {

using test::scoped_env;
using test::temp_file;

std::vector<std::string> messages(const diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& e : d.errors()) out.push_back(e.str());
  return out;
}

// ---- durations -------------------------------------------------------------

TEST(duration, parses_every_unit_decimals_and_sums) {
  struct row {
    const char* text;
    std::chrono::milliseconds expected;
  };
  const row rows[] = {
      {"250ms", 250ms},       {"15s", 15s},         {"2m", 2min},         {"1h", 1h},
      {"1d", 24h},            {"1m30s", 90s},       {"1.5s", 1500ms},     {"0.5m", 30s},
      {"2h30m", 150min},      {"1h0m5s", 3605s},    {"0s", 0ms},          {"1s500ms", 1500ms},
      {"1.25h", 75min},       {"10.000s", 10s},     {"0.001s", 1ms},      {"90m", 90min},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.text);
    auto d = parse_duration(r.text);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, r.expected);
  }
}

TEST(duration, rejects_bare_numbers_signs_spaces_and_unknown_units) {
  const char* rows[] = {"",     "15",   "fast", "-5s",  "+5s",   "5 s",   "5S",  "1.5",
                        "1.s",  ".5s",  "5sec", "1m30", "s",     "5us",   "ms",  "0.0001s",
                        "1e3s", " 5s",  "5s ",  "5s-1s", "99999999999999999999s", "1,5s"};
  for (const char* text : rows) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_duration(text).has_value());
  }
}

TEST(duration, format_gives_the_shortest_readable_form) {
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(15s), "15s");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(24h), "1d");
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(3605s), "1h5s");
  EXPECT_EQ(format_duration(60250ms), "1m0.25s");
}

TEST(duration, formatted_text_parses_back_to_the_same_value) {
  for (auto d : {1ms, 250ms, 1500ms, 15000ms, 90000ms, 3605000ms, 86400001ms, 60250ms}) {
    SCOPED_TRACE(d.count());
    EXPECT_EQ(parse_duration(format_duration(d)), d);
  }
}

// ---- sizes -----------------------------------------------------------------

TEST(size, parses_bytes_and_decimal_and_binary_units) {
  struct row {
    const char* text;
    std::uint64_t expected;
  };
  const row rows[] = {
      {"512", 512},
      {"0", 0},
      {"1B", 1},
      {"10KB", 10'000},
      {"10MB", 10'000'000},
      {"1GB", 1'000'000'000},
      {"2TB", 2'000'000'000'000},
      {"64KiB", 65'536},
      {"64MiB", 64ull << 20},
      {"1GiB", 1ull << 30},
      {"1TiB", 1ull << 40},
      {"1.5GB", 1'500'000'000},
      {"1.5KiB", 1'536},
      {"10mb", 10'000'000},
      {"4kib", 4'096},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.text);
    auto n = parse_size(r.text);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, r.expected);
  }
}

TEST(size, rejects_fractional_bytes_signs_spaces_and_unknown_units) {
  const char* rows[] = {"",    "big", "-1",   "1.5",   "10 MB", "10XB", "0.1B",
                        "KB",  "+5",  "1e3",  "10M",   "1.KB",  "99999999999999999999",
                        "20000000TiB"};
  for (const char* text : rows) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_size(text).has_value());
  }
}

// ---- did you mean ----------------------------------------------------------

TEST(node_reader, did_you_mean_suggests_the_closest_candidate) {
  EXPECT_EQ(did_you_mean("postgress", {"disk", "port", "postgres", "process"}), "postgres");
  EXPECT_EQ(did_you_mean("intervall", {"interval", "timeout"}), "interval");
}

TEST(node_reader, did_you_mean_ignores_case) { EXPECT_EQ(did_you_mean("Timeout", {"interval", "timeout"}), "timeout"); }

TEST(node_reader, did_you_mean_is_empty_when_nothing_is_close) {
  EXPECT_EQ(did_you_mean("banana", {"interval", "timeout"}), "");
  EXPECT_EQ(did_you_mean("", {"interval"}), "");
  EXPECT_EQ(did_you_mean("abc", {}), "");
}

TEST(node_reader, did_you_mean_allows_a_third_of_the_word_in_edits) {
  EXPECT_EQ(did_you_mean("timeuot", {"timeout"}), "timeout");  // 7 letters: 2 edits
  EXPECT_EQ(did_you_mean("tokne", {"token"}), "token");       // a swap of two letters is one edit
}

TEST(node_reader, did_you_mean_allows_one_edit_for_short_words) {
  EXPECT_EQ(did_you_mean("lg", {"log"}), "log");
  EXPECT_EQ(did_you_mean("lo", {"xy"}), "");
}

// ---- errors ----------------------------------------------------------------

TEST(config_error, prints_file_line_column_path_and_message) {
  config_error e{.file = "/etc/vitals/vitals.yaml", .line = 14, .column = 14, .path = "probes[2].timeout",
                 .message = "bad"};
  EXPECT_EQ(e.str(), "/etc/vitals/vitals.yaml:14:14: probes[2].timeout: bad");
}

TEST(config_error, without_a_position_prints_only_the_file) {
  config_error e{.file = "/nope.yaml", .line = 0, .column = 0, .path = "", .message = "cannot read config file: No such file or directory"};
  EXPECT_EQ(e.str(), "/nope.yaml: cannot read config file: No such file or directory");
}

TEST(node_reader, diagnostics_turn_zero_based_marks_into_one_based_positions) {
  diagnostics d("f.yaml");
  YAML::Mark m;
  m.line = 0;
  m.column = 0;
  d.add(m, "k", "msg");
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_EQ(d.errors()[0].str(), "f.yaml:1:1: k: msg");
}

TEST(node_reader, diagnostics_keep_one_error_per_path_and_position) {
  diagnostics d("f.yaml");
  YAML::Mark m;
  m.line = 2;
  m.column = 4;
  d.add(m, "k", "first");
  d.add(m, "k", "second");
  d.add(m, "other", "third");
  EXPECT_EQ(messages(d), (std::vector<std::string>{"f.yaml:3:5: k: first", "f.yaml:3:5: other: third"}));
}

// ---- reading values --------------------------------------------------------

TEST(node_reader, bad_duration_is_reported_at_the_value_with_its_key_path) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: 1\ntimeout: fast\n"), "probes[2]", d);
  EXPECT_FALSE(r.duration("timeout").has_value());
  EXPECT_EQ(messages(d), (std::vector<std::string>{
                             "t.yaml:2:10: probes[2].timeout: expected a duration like \"500ms\" or \"15s\", got \"fast\""}));
}

TEST(node_reader, duration_without_unit_says_a_unit_is_required) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("interval: 15\n"), "", d);
  EXPECT_FALSE(r.duration("interval").has_value());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:11: interval: expected a duration like \"500ms\" or "
                                                   "\"15s\", got \"15\" (a unit is required: ms, s, m, h or d)"}));
}

TEST(node_reader, bad_size_is_an_error_at_the_value) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("max: 10 MB\n"), "", d);
  EXPECT_FALSE(r.size("max").has_value());
  EXPECT_EQ(messages(d), (std::vector<std::string>{
                             "t.yaml:1:6: max: expected a size like \"512\", \"64KiB\" or \"10MB\", got \"10 MB\""}));
}

TEST(node_reader, missing_required_key_is_reported_at_the_parent_mapping) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("probes:\n  - type: fake\n    interval: 5s\n");
  node_reader item(root["probes"][0], "probes[0]", d);
  EXPECT_FALSE(item.require("name"));
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:2:5: probes[0].name: missing required key"}));
}

TEST(node_reader, empty_value_counts_as_not_set) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a:\nb: ~\nc: x\n"), "", d);
  EXPECT_FALSE(r.has("a"));
  EXPECT_FALSE(r.has("b"));
  EXPECT_TRUE(r.has("c"));
  EXPECT_FALSE(r.string("a").has_value());
  EXPECT_TRUE(d.ok());
}

TEST(node_reader, integer_out_of_range_names_the_range) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("n: 150\n"), "s", d);
  EXPECT_FALSE(r.integer("n", 1, 100).has_value());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:4: s.n: must be between 1 and 100, got \"150\""}));
}

TEST(node_reader, integer_rejects_text_and_fractions) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: many\nb: 1.5\n"), "", d);
  EXPECT_FALSE(r.integer("a", 0, 10).has_value());
  EXPECT_FALSE(r.integer("b", 0, 10).has_value());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:4: a: expected a whole number, got \"many\"",
                                                   "t.yaml:2:4: b: expected a whole number, got \"1.5\""}));
}

TEST(node_reader, boolean_accepts_yaml_words_and_rejects_others) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: true\nb: no\nc: maybe\n"), "", d);
  EXPECT_EQ(r.boolean("a"), true);
  EXPECT_EQ(r.boolean("b"), false);
  EXPECT_FALSE(r.boolean("c").has_value());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:3:4: c: expected true or false, got \"maybe\""}));
}

TEST(node_reader, number_reads_decimals_and_rejects_text) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: 0.9\nb: lots\n"), "", d);
  EXPECT_EQ(r.number("a"), 0.9);
  EXPECT_FALSE(r.number("b").has_value());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:2:4: b: expected a number, got \"lots\""}));
}

TEST(node_reader, one_of_lists_choices_and_suggests_the_closest) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("level: warm\n"), "log", d);
  EXPECT_FALSE(r.one_of("level", {"trace", "debug", "info", "warn", "error"}).has_value());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:8: log.level: expected trace|debug|info|warn|error, "
                                                   "got \"warm\"; did you mean \"warn\"?"}));
}

TEST(node_reader, string_given_a_mapping_is_an_error) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("name: {a: 1}\n"), "", d);
  EXPECT_FALSE(r.string("name").has_value());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:7: name: expected a single value, got a mapping"}));
}

TEST(node_reader, map_given_a_list_is_an_error) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("server:\n  - a\n"), "", d);
  EXPECT_FALSE(r.map("server").has_value());
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_EQ(d.errors()[0].path, "server");
  EXPECT_EQ(d.errors()[0].line, 2);
  EXPECT_EQ(d.errors()[0].column, 3);
}

TEST(node_reader, sequence_items_carry_indexed_paths) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("probes:\n  - a: 1\n  - a: x\n"), "", d);
  auto items = r.sequence("probes");
  ASSERT_TRUE(items.has_value());
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[1].path(), "probes[1]");
  EXPECT_EQ((*items)[1].key_path("a"), "probes[1].a");
  (*items)[1].integer("a", 0, 9);
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:3:8: probes[1].a: expected a whole number, got \"x\""}));
}

TEST(node_reader, finish_rejects_an_unknown_key_with_a_suggestion) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("interval: 5s\nintervall: 5s\n"), "defaults", d);
  r.duration("interval");
  r.duration("timeout");
  r.finish();
  EXPECT_EQ(messages(d),
            (std::vector<std::string>{"t.yaml:2:1: defaults.intervall: unknown key; did you mean \"interval\"?"}));
}

TEST(node_reader, finish_lists_known_keys_when_nothing_is_close) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("colour: red\n"), "log", d);
  r.string("level");
  r.string("format");
  r.finish();
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:1: log.colour: unknown key (known: format, level)"}));
}

TEST(node_reader, finish_accepts_keys_marked_known) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: 1\nb: 2\n"), "", d);
  r.known({"a", "b"});
  r.finish();
  EXPECT_TRUE(d.ok());
}

TEST(node_reader, finish_reports_a_repeated_key_with_the_first_line) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: 1\nb: 2\na: 3\n"), "s", d);
  r.known({"a", "b"});
  r.finish();
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:3:1: s.a: duplicate key (first at line 1)"}));
}

TEST(node_reader, copies_share_the_set_of_known_keys) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: 1\nb: 2\n"), "", d);
  node_reader copy = r;
  copy.string("a");
  r.string("b");
  r.finish();
  EXPECT_TRUE(d.ok());
}

// ---- secrets ---------------------------------------------------------------

TEST(node_reader, env_reference_is_replaced_by_the_variable) {
  scoped_env env("VITALS_TEST_PASSWORD", "hunter2");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("password: ${env:VITALS_TEST_PASSWORD}\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(root["password"].Scalar(), "hunter2");
}

TEST(node_reader, file_reference_is_replaced_without_its_trailing_newline) {
  temp_file secret("s3cret-token\n");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("token: ${file:" + secret.path() + "}\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(root["token"].Scalar(), "s3cret-token");
}

TEST(node_reader, only_one_trailing_newline_of_a_file_is_dropped) {
  temp_file secret("line\n\n");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("token: ${file:" + secret.path() + "}\n");
  substitute_secrets(root, d);
  EXPECT_EQ(root["token"].Scalar(), "line\n");
}

TEST(node_reader, several_references_mix_with_plain_text) {
  scoped_env user("VITALS_TEST_USER", "monitor");
  temp_file secret("pw\n");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("headers:\n  Authorization: \"Bearer ${file:" + secret.path() +
                               "} for ${env:VITALS_TEST_USER}!\"\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(root["headers"]["Authorization"].Scalar(), "Bearer pw for monitor!");
}

TEST(node_reader, references_inside_lists_are_replaced) {
  scoped_env env("VITALS_TEST_ITEM", "x");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: [1, \"${env:VITALS_TEST_ITEM}\"]\n");
  substitute_secrets(root, d);
  EXPECT_EQ(root["a"][1].Scalar(), "x");
}

TEST(node_reader, substituted_scalar_keeps_its_position) {
  // yaml-cpp 0.7 keeps a node's mark when a new scalar is assigned; errors
  // about a substituted value rely on that.
  scoped_env env("VITALS_TEST_INTERVAL", "soon");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("x: 1\ninterval:   ${env:VITALS_TEST_INTERVAL}\n");
  substitute_secrets(root, d);
  EXPECT_EQ(root["interval"].Mark().line, 1);
  EXPECT_EQ(root["interval"].Mark().column, 12);
}

TEST(node_reader, substituted_scalar_is_marked_secret_and_shown_redacted) {
  scoped_env env("VITALS_TEST_INTERVAL", "hunter2");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("interval: ${env:VITALS_TEST_INTERVAL}\nplain: fast\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.is_secret(root["interval"].Mark()));
  EXPECT_FALSE(d.is_secret(root["plain"].Mark()));
  node_reader r(root, "", d);
  EXPECT_EQ(r.shown("interval"), "<redacted>");
  EXPECT_EQ(r.shown("plain"), "\"fast\"");
}

TEST(node_reader, error_about_a_secret_value_does_not_contain_it) {
  scoped_env env("VITALS_TEST_INTERVAL", "hunter2");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("interval: ${env:VITALS_TEST_INTERVAL}\nlevel: ${env:VITALS_TEST_INTERVAL}\n");
  substitute_secrets(root, d);
  node_reader r(root, "", d);
  r.duration("interval");
  r.one_of("level", {"hunter1", "info"});  // close to the secret: no suggestion
  ASSERT_EQ(d.errors().size(), 2u);
  EXPECT_EQ(d.errors()[0].str(),
            "t.yaml:1:11: interval: expected a duration like \"500ms\" or \"15s\", got <redacted>");
  for (const auto& e : messages(d)) EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  EXPECT_EQ(d.errors()[1].message.find("did you mean"), std::string::npos);
}

TEST(node_reader, missing_env_variable_is_an_error_naming_it_at_the_scalar) {
  ::unsetenv("VITALS_TEST_UNSET");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("probes:\n  - password: \"x${env:VITALS_TEST_UNSET}\"\n");
  substitute_secrets(root, d);
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:2:15: probes[0].password: environment variable "
                                                   "VITALS_TEST_UNSET is not set (from ${env:VITALS_TEST_UNSET})"}));
}

TEST(node_reader, unreadable_secret_file_is_an_error_naming_the_path) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("token: ${file:/nonexistent/vitals.token}\n");
  substitute_secrets(root, d);
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:8: token: cannot read secret file "
                                                   "/nonexistent/vitals.token: No such file or directory"}));
}

TEST(node_reader, every_failed_reference_in_a_file_is_reported) {
  ::unsetenv("VITALS_TEST_UNSET");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: ${env:VITALS_TEST_UNSET}\nb: ${file:/nonexistent/b}\n");
  substitute_secrets(root, d);
  EXPECT_EQ(d.errors().size(), 2u);
}

TEST(node_reader, unknown_reference_kind_is_an_error) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: ${ENV:HOME}\n");
  substitute_secrets(root, d);
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_EQ(d.errors()[0].str(), "t.yaml:1:4: a: unknown reference \"${ENV:HOME}\": write ${env:NAME} or "
                                 "${file:/path}, or $${ for a literal \"${\"");
}

TEST(node_reader, unterminated_reference_is_an_error) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: ${env:HOME\n");
  substitute_secrets(root, d);
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_EQ(d.errors()[0].line, 1);
  EXPECT_EQ(d.errors()[0].column, 4);
}

TEST(node_reader, double_dollar_is_a_literal_reference_and_not_secret) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: cost $${env:HOME} $5\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(root["a"].Scalar(), "cost ${env:HOME} $5");
  EXPECT_FALSE(d.is_secret(root["a"].Mark()));
}

TEST(node_reader, aliased_value_is_substituted_once) {
  // The file holds text that looks like a reference; expanding the alias a
  // second time would try to read it.
  temp_file secret("${env:VITALS_TEST_UNSET}");
  ::unsetenv("VITALS_TEST_UNSET");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: &tok ${file:" + secret.path() + "}\nb: *tok\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.errors()[0].str());
  EXPECT_EQ(root["b"].Scalar(), "${env:VITALS_TEST_UNSET}");
}

}  // namespace
}  // namespace vitals
