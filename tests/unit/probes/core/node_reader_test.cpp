#include "probes/core/node_reader.hpp"
#include "probes/core/secrets.hpp"

#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace vitals {
namespace {

using test::scoped_env;

std::vector<std::string> messages(const diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& e : d.errors()) out.push_back(e.str());
  return out;
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

// ---- secret values in messages --------------------------------------------

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

// ---- declarative reads -----------------------------------------------------

TEST(node_reader, read_parses_by_the_type_of_out) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("s: text\nb: yes\nn: -7\nu: 200\nx: 0.25\nt: 1m30s\nw: 2s\no: 5\n"), "", d);
  std::string s;
  bool b = false;
  int n = 0;
  std::uint8_t u = 0;
  double x = 0;
  std::chrono::milliseconds t{0};
  std::chrono::steady_clock::duration w{0};
  std::optional<int> o;
  EXPECT_TRUE(r.read("s", s));
  EXPECT_TRUE(r.read("b", b));
  EXPECT_TRUE(r.read("n", n));
  EXPECT_TRUE(r.read("u", u));
  EXPECT_TRUE(r.read("x", x));
  EXPECT_TRUE(r.read("t", t));
  EXPECT_TRUE(r.read("w", w));
  EXPECT_TRUE(r.read("o", o));
  EXPECT_EQ(s, "text");
  EXPECT_TRUE(b);
  EXPECT_EQ(n, -7);
  EXPECT_EQ(u, 200);
  EXPECT_EQ(x, 0.25);
  EXPECT_EQ(t, 90s);
  EXPECT_EQ(w, 2s);
  EXPECT_EQ(o, 5);
  EXPECT_TRUE(d.ok());
  EXPECT_FALSE(r.failed());
}

TEST(node_reader, read_leaves_out_as_it_is_when_the_key_is_not_set) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("empty:\nnull_value: ~\n"), "", d);
  int count = 3;
  std::optional<std::string> name;
  EXPECT_FALSE(r.read("absent", count));
  EXPECT_FALSE(r.read("empty", count));
  EXPECT_FALSE(r.read("null_value", name));
  EXPECT_EQ(count, 3);
  EXPECT_FALSE(name.has_value());
  EXPECT_TRUE(d.ok());
  EXPECT_FALSE(r.failed());
}

TEST(node_reader, read_of_a_bad_value_reports_it_keeps_out_and_fails) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("timeout: fast\n"), "probes[0]", d);
  std::chrono::milliseconds timeout = 5s;
  EXPECT_FALSE(r.read("timeout", timeout));
  EXPECT_EQ(timeout, 5s);
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:10: probes[0].timeout: expected a duration like "
                                                   "\"500ms\" or \"15s\", got \"fast\""}));
}

TEST(node_reader, read_of_a_whole_number_checks_the_range_of_its_type) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("small: 300\nunsigned: -1\n"), "s", d);
  std::uint8_t small = 1;
  unsigned value = 1;
  EXPECT_FALSE(r.read("small", small));
  EXPECT_FALSE(r.read("unsigned", value));
  EXPECT_EQ(small, 1);
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:8: s.small: must be between 0 and 255, got \"300\"",
                                                   "t.yaml:2:11: s.unsigned: must be between 0 and 4294967295, "
                                                   "got \"-1\""}));
}

TEST(node_reader, read_between_reports_the_range_like_integer) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("n: 150\nm: 7\n"), "s", d);
  std::size_t n = 1;
  std::optional<int> m;
  EXPECT_FALSE(r.read("n", n, between{1, 100}));
  EXPECT_TRUE(r.read("m", m, between{1, 100}));
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(m, 7);
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:4: s.n: must be between 1 and 100, got \"150\""}));
}

TEST(node_reader, read_with_a_check_reports_its_message_at_the_key_and_keeps_out) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("ratio: 1.5\n"), "disk", d);
  double ratio = 0.1;
  auto at_most_one = [](double v) { return v <= 1 ? "" : "must be at most 1"; };
  EXPECT_FALSE(r.read("ratio", ratio, at_most_one));
  EXPECT_EQ(ratio, 0.1);
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:8: disk.ratio: must be at most 1"}));
}

TEST(node_reader, read_stores_a_value_its_check_accepts) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("ratio: 0.5\n"), "", d);
  double ratio = 0;
  EXPECT_TRUE(r.read("ratio", ratio, [](double v) { return v <= 1 ? std::optional<std::string>() : "too big"; }));
  EXPECT_EQ(ratio, 0.5);
  EXPECT_FALSE(r.failed());
}

TEST(node_reader, a_check_is_not_asked_about_an_unset_key) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: 1\n"), "", d);
  std::string path = "/default";
  bool asked = false;
  EXPECT_FALSE(r.read("path", path, [&](const std::string&) {
    asked = true;
    return "";
  }));
  EXPECT_FALSE(asked);
  EXPECT_FALSE(r.failed());
}

TEST(node_reader, a_check_may_quote_the_value_and_a_secret_stays_redacted) {
  scoped_env env("VITALS_TEST_PATH", "relative/secret");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("plain: db.sqlite\nhidden: ${env:VITALS_TEST_PATH}\n");
  substitute_secrets(root, d);
  node_reader r(root, "", d);
  std::string plain, hidden;
  r.read("plain", plain, absolute_path{"the daemon's working directory is not yours"});
  r.read("hidden", hidden, absolute_path{});
  EXPECT_EQ(messages(d), (std::vector<std::string>{
                             "t.yaml:1:8: plain: \"db.sqlite\" is not an absolute path (the daemon's working "
                             "directory is not yours)",
                             "t.yaml:2:9: hidden: <redacted> is not an absolute path"}));
}

TEST(node_reader, read_with_choices_stores_the_value_a_name_stands_for) {
  enum class mode { quick, full };
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("check: full\nexpect: closed\n"), "", d);
  mode m = mode::quick;
  bool open = true;
  EXPECT_TRUE(r.read("check", m, {{"quick", mode::quick}, {"full", mode::full}}));
  EXPECT_TRUE(r.read("expect", open, {{"open", true}, {"closed", false}}));
  EXPECT_EQ(m, mode::full);
  EXPECT_FALSE(open);
  EXPECT_TRUE(d.ok());
}

TEST(node_reader, read_with_choices_lists_them_and_suggests_the_closest) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("expect: opne\nlevel: warm\n"), "p", d);
  bool open = true;
  std::string level = "info";
  EXPECT_FALSE(r.read("expect", open, {{"open", true}, {"closed", false}}));
  EXPECT_FALSE(r.read("level", level, {"info", "warn"}));
  EXPECT_EQ(level, "info");
  EXPECT_EQ(messages(d), (std::vector<std::string>{
                             "t.yaml:1:9: p.expect: expected open|closed, got \"opne\"; did you mean \"open\"?",
                             "t.yaml:2:8: p.level: expected info|warn, got \"warm\"; did you mean \"warn\"?"}));
}

TEST(node_reader, read_size_takes_units_and_checks) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("max: 64KiB\nlimit: 0\nbad: lots\n"), "", d);
  std::uint64_t max = 0;
  std::optional<std::uint64_t> limit;
  std::uint64_t bad = 9;
  EXPECT_TRUE(r.read_size("max", max));
  EXPECT_FALSE(r.read_size("limit", limit, [](std::uint64_t n) { return n == 0 ? "must be more than 0" : ""; }));
  EXPECT_FALSE(r.read_size("bad", bad));
  EXPECT_EQ(max, 65536u);
  EXPECT_FALSE(limit.has_value());
  EXPECT_EQ(bad, 9u);
  EXPECT_EQ(messages(d), (std::vector<std::string>{
                             "t.yaml:2:8: limit: must be more than 0",
                             "t.yaml:3:6: bad: expected a size like \"512\", \"64KiB\" or \"10MB\", got \"lots\""}));
}

TEST(node_reader, read_required_reports_a_missing_key_at_the_mapping) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("probes:\n  - type: disk\n    path:\n");
  node_reader item(root["probes"][0], "probes[0]", d);
  std::string path = "unchanged";
  std::string type;
  EXPECT_TRUE(item.read_required("type", type));
  EXPECT_FALSE(item.read_required("path", path, absolute_path{}));
  EXPECT_FALSE(item.read_required("name", path));
  EXPECT_EQ(path, "unchanged");
  EXPECT_TRUE(item.failed());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:3:5: probes[0].path: missing required key",
                                                   "t.yaml:2:5: probes[0].name: missing required key"}));
}

TEST(node_reader, read_required_checks_a_present_value) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("port: 0\n"), "", d);
  int port = 1;
  EXPECT_FALSE(r.read_required("port", port, between{1, 65535}));
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:7: port: must be between 1 and 65535, got \"0\""}));
}

TEST(node_reader, every_read_key_counts_as_known) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: 1\nb: x\nc: 1KiB\nd: on\n"), "", d);
  int a = 0;
  std::string b;
  std::uint64_t c = 0;
  bool flag = false;
  r.read("a", a);
  r.read_required("b", b);
  r.read_size("c", c);
  r.read("d", flag, {{"on", true}, {"off", false}});
  r.finish();
  EXPECT_TRUE(d.ok());
}

// ---- failed() ----------------------------------------------------------------

TEST(node_reader, good_reads_do_not_fail) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: 1\n"), "", d);
  int a = 0;
  r.read("a", a);
  r.finish();
  EXPECT_FALSE(r.failed());
}

TEST(node_reader, error_and_error_here_mark_the_reader_failed) {
  diagnostics d("t.yaml");
  node_reader by_key(YAML::Load("a: 1\n"), "", d);
  node_reader by_node(YAML::Load("a: 1\n"), "", d);
  by_key.error("a", "does not fit b");
  by_node.error_here("needs b");
  EXPECT_TRUE(by_key.failed());
  EXPECT_TRUE(by_node.failed());
}

TEST(node_reader, a_repeated_report_still_fails_the_reader) {
  // diagnostics keeps one error per path and position; the second reader
  // failed all the same.
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: x\n");
  node_reader first(root, "", d);
  node_reader second(root, "", d);
  first.error("a", "bad");
  second.error("a", "bad again");
  EXPECT_EQ(d.errors().size(), 1u);
  EXPECT_TRUE(second.failed());
}

TEST(node_reader, an_unknown_key_in_finish_fails_the_reader) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("colour: red\n"), "", d);
  r.finish();
  EXPECT_TRUE(r.failed());
}

TEST(node_reader, copies_share_the_failure) {
  diagnostics d("t.yaml");
  node_reader r(YAML::Load("a: x\n"), "", d);
  node_reader copy = r;
  int a = 0;
  copy.read("a", a);
  EXPECT_TRUE(r.failed());
}

TEST(node_reader, a_nested_mapping_failure_fails_its_parents) {
  diagnostics d("t.yaml");
  node_reader root(YAML::Load("probes:\n  - tls:\n      verify: maybe\n"), "", d);
  auto probes = root.sequence("probes");
  ASSERT_TRUE(probes.has_value());
  auto tls = (*probes)[0].map("tls");
  ASSERT_TRUE(tls.has_value());
  EXPECT_FALSE(root.failed());
  bool verify = true;
  tls->read("verify", verify);
  EXPECT_TRUE(tls->failed());
  EXPECT_TRUE((*probes)[0].failed());
  EXPECT_TRUE(root.failed());
  EXPECT_EQ(messages(d), (std::vector<std::string>{
                             "t.yaml:3:15: probes[0].tls.verify: expected true or false, got \"maybe\""}));
}

TEST(node_reader, a_failed_item_does_not_fail_its_siblings) {
  diagnostics d("t.yaml");
  node_reader root(YAML::Load("probes:\n  - {port: x}\n  - {port: 1}\n"), "", d);
  auto probes = root.sequence("probes");
  ASSERT_TRUE(probes.has_value());
  int port = 0;
  (*probes)[0].read("port", port);
  (*probes)[1].read("port", port);
  EXPECT_TRUE((*probes)[0].failed());
  EXPECT_FALSE((*probes)[1].failed());
  EXPECT_EQ(port, 1);
}

TEST(node_reader, a_reader_nested_after_a_failure_starts_clean) {
  diagnostics d("t.yaml");
  node_reader root(YAML::Load("a: x\nmatch: {name: node}\n"), "", d);
  int a = 0;
  root.read("a", a);
  auto match = root.map("match");
  ASSERT_TRUE(match.has_value());
  EXPECT_TRUE(root.failed());
  EXPECT_FALSE(match->failed());
}

TEST(node_reader, nested_reads_a_value_of_any_shape_and_fails_its_parent) {
  diagnostics d("t.yaml");
  node_reader root(YAML::Load("builtin:\n  probe_down: maybe\n"), "alerts", d);
  auto builtin = root.map("builtin");
  ASSERT_TRUE(builtin.has_value());
  node_reader rule = builtin->nested("probe_down");
  EXPECT_TRUE(rule.node().IsScalar());
  EXPECT_EQ(rule.path(), "alerts.builtin.probe_down");
  rule.error_here("expected false or a mapping");
  EXPECT_TRUE(root.failed());
  builtin->finish();  // probe_down was asked about
  EXPECT_EQ(messages(d), (std::vector<std::string>{
                             "t.yaml:2:15: alerts.builtin.probe_down: expected false or a mapping"}));
}

TEST(node_reader, error_at_reports_a_position_inside_a_value) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("when: up == 0\n");
  node_reader r(root, "rules[0]", d);
  YAML::Mark inside = root["when"].Mark();
  inside.column += 3;
  r.error_at(inside, "when", "unknown metric up");
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:10: rules[0].when: unknown metric up"}));
}

TEST(node_reader, is_secret_tells_values_from_the_environment) {
  scoped_env env("VITALS_TEST_PASSWORD", "hunter2");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("password: ${env:VITALS_TEST_PASSWORD}\nuser: app\n");
  substitute_secrets(root, d);
  node_reader r(root, "", d);
  EXPECT_TRUE(r.is_secret("password"));
  EXPECT_FALSE(r.is_secret("user"));
  EXPECT_FALSE(r.is_secret("absent"));
}
}  // namespace
}  // namespace vitals
