#include "probes/core/yaml_bounds.hpp"

#include "probes/core/diagnostics.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

namespace vitals {
namespace {

std::string only_error(const diagnostics& d) {
  EXPECT_EQ(d.errors().size(), 1u);
  return d.errors().empty() ? "" : d.errors()[0].str();
}

TEST(yaml_bounds, an_ordinary_config_passes) {
  diagnostics d("x.yaml");
  const auto root = YAML::Load("defaults: &d {interval: 5s}\nprobes:\n  - {name: a, <<: *d}\n  - {name: b, x: *d}\n");
  EXPECT_TRUE(check_yaml_bounds(root, d));
  EXPECT_TRUE(d.ok());
}

TEST(yaml_bounds, an_alias_inside_its_own_anchor_is_a_cycle_at_its_position) {
  diagnostics d("x.yaml");
  const auto root = YAML::Load("a: &a [*a]\n");
  EXPECT_FALSE(check_yaml_bounds(root, d));
  EXPECT_EQ(only_error(d), "x.yaml:1:4: a[0]: an alias refers to a node that contains it (an alias cycle)");
}

TEST(yaml_bounds, a_cycle_through_a_mapping_key_is_found_too) {
  diagnostics d("x.yaml");
  const auto root = YAML::Load("a: &a {? *a : 1}\n");
  EXPECT_FALSE(check_yaml_bounds(root, d));
  EXPECT_NE(only_error(d).find("alias cycle"), std::string::npos);
}

TEST(yaml_bounds, billion_laughs_stops_at_the_node_limit) {
  // Nine levels of nine aliases: 9^9 nodes from a few hundred bytes.
  std::string text = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level <= 9; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    text += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 9; ++i) text += (i ? ", " : "") + prev;
    text += "]\n";
  }
  diagnostics d("x.yaml");
  EXPECT_FALSE(check_yaml_bounds(YAML::Load(text), d));
  EXPECT_NE(only_error(d).find("expands to more than 100000 nodes"), std::string::npos) << only_error(d);
}

TEST(yaml_bounds, a_large_scalar_used_many_times_stops_at_the_text_limit) {
  std::string text = "big: &b " + std::string(1 << 20, 'x') + "\nuses: [";
  for (int i = 0; i < 20; ++i) text += (i ? ", " : "") + std::string("*b");
  text += "]\n";
  diagnostics d("x.yaml");
  EXPECT_FALSE(check_yaml_bounds(YAML::Load(text), d));
  EXPECT_NE(only_error(d).find("MiB of text"), std::string::npos) << only_error(d);
}

TEST(yaml_bounds, nesting_beyond_the_limit_is_an_error_at_the_deep_node) {
  const std::string text = "a: " + std::string(70, '[') + std::string(70, ']') + "\n";
  diagnostics d("x.yaml");
  EXPECT_FALSE(check_yaml_bounds(YAML::Load(text), d));
  EXPECT_NE(only_error(d).find("nested deeper than 64 levels"), std::string::npos) << only_error(d);
  // The limit itself is allowed.
  diagnostics ok("x.yaml");
  EXPECT_TRUE(check_yaml_bounds(YAML::Load("a: " + std::string(63, '[') + std::string(63, ']') + "\n"), ok));
}

}  // namespace
}  // namespace vitals

namespace vitals {
namespace {

TEST(yaml_node_count, a_long_plain_list_is_refused_before_yaml_cpp_builds_it) {
  std::string text = "x:\n";
  for (int i = 0; i < 100'001; ++i) text += "  - 1\n";
  diagnostics d("x.yaml");
  EXPECT_FALSE(check_yaml_node_count(text, d));
  EXPECT_EQ(only_error(d), "x.yaml:99999:5: the document has more than 100000 nodes");
}

TEST(yaml_node_count, a_config_within_the_limit_and_a_syntax_error_pass_through) {
  diagnostics d("x.yaml");
  EXPECT_TRUE(check_yaml_node_count("probes:\n  - {name: a, type: port, port: 1}\n", d));
  EXPECT_TRUE(check_yaml_node_count("a: [1, 2\n", d));  // the loader reports it
  EXPECT_TRUE(d.ok());
}

}  // namespace
}  // namespace vitals
