#include "probes/core/secrets.hpp"

#include "probes/core/diagnostics.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <sys/stat.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace vitals {
namespace {

using test::scoped_env;
using test::temp_file;

std::vector<std::string> messages(const diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& e : d.errors()) out.push_back(e.str());
  return out;
}

// ---- secrets ---------------------------------------------------------------

TEST(secrets, env_reference_is_replaced_by_the_variable) {
  scoped_env env("VITALS_TEST_PASSWORD", "hunter2");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("password: ${env:VITALS_TEST_PASSWORD}\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(root["password"].Scalar(), "hunter2");
}

TEST(secrets, file_reference_is_replaced_without_its_trailing_newline) {
  temp_file secret("s3cret-token\n");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("token: ${file:" + secret.path() + "}\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(root["token"].Scalar(), "s3cret-token");
}

TEST(secrets, only_one_trailing_newline_of_a_file_is_dropped) {
  temp_file secret("line\n\n");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("token: ${file:" + secret.path() + "}\n");
  substitute_secrets(root, d);
  EXPECT_EQ(root["token"].Scalar(), "line\n");
}

TEST(secrets, several_references_mix_with_plain_text) {
  scoped_env user("VITALS_TEST_USER", "monitor");
  temp_file secret("pw\n");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("headers:\n  Authorization: \"Bearer ${file:" + secret.path() +
                               "} for ${env:VITALS_TEST_USER}!\"\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(root["headers"]["Authorization"].Scalar(), "Bearer pw for monitor!");
}

TEST(secrets, references_inside_lists_are_replaced) {
  scoped_env env("VITALS_TEST_ITEM", "x");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: [1, \"${env:VITALS_TEST_ITEM}\"]\n");
  substitute_secrets(root, d);
  EXPECT_EQ(root["a"][1].Scalar(), "x");
}

TEST(secrets, substituted_scalar_keeps_its_position) {
  // yaml-cpp 0.7 keeps a node's mark when a new scalar is assigned; errors
  // about a substituted value rely on that.
  scoped_env env("VITALS_TEST_INTERVAL", "soon");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("x: 1\ninterval:   ${env:VITALS_TEST_INTERVAL}\n");
  substitute_secrets(root, d);
  EXPECT_EQ(root["interval"].Mark().line, 1);
  EXPECT_EQ(root["interval"].Mark().column, 12);
}

TEST(secrets, missing_env_variable_is_an_error_naming_it_at_the_scalar) {
  ::unsetenv("VITALS_TEST_UNSET");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("probes:\n  - password: \"x${env:VITALS_TEST_UNSET}\"\n");
  substitute_secrets(root, d);
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:2:15: probes[0].password: environment variable "
                                                   "VITALS_TEST_UNSET is not set (from ${env:VITALS_TEST_UNSET})"}));
}

TEST(secrets, unreadable_secret_file_is_an_error_naming_the_path) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("token: ${file:/nonexistent/vitals.token}\n");
  substitute_secrets(root, d);
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:8: token: cannot read secret file "
                                                   "\"/nonexistent/vitals.token\": No such file or directory"}));
}

TEST(secrets, an_endless_device_is_refused_without_reading_it) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("token: ${file:/dev/zero}\n");
  substitute_secrets(root, d);
  EXPECT_EQ(messages(d), (std::vector<std::string>{"t.yaml:1:8: token: cannot read secret file \"/dev/zero\": "
                                                   "not a regular file"}));
}

TEST(secrets, a_fifo_is_refused_instead_of_blocking_on_it) {
  test::temp_dir dir;
  const std::string fifo = dir.path() + "/token";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("token: ${file:" + fifo + "}\n");
  substitute_secrets(root, d);
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_NE(d.errors()[0].message.find("not a regular file"), std::string::npos) << d.errors()[0].message;
}

TEST(secrets, a_file_larger_than_a_secret_can_be_is_refused) {
  temp_file big(std::string(max_secret_file_bytes + 1, 'x'));
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("token: ${file:" + big.path() + "}\n");
  substitute_secrets(root, d);
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_NE(d.errors()[0].message.find("too large for a secret"), std::string::npos) << d.errors()[0].message;
  // One byte less is a secret like any other.
  temp_file fits(std::string(max_secret_file_bytes, 'x'));
  diagnostics ok("t.yaml");
  YAML::Node root2 = YAML::Load("token: ${file:" + fits.path() + "}\n");
  substitute_secrets(root2, ok);
  EXPECT_TRUE(ok.ok());
}

TEST(secrets, every_failed_reference_in_a_file_is_reported) {
  ::unsetenv("VITALS_TEST_UNSET");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: ${env:VITALS_TEST_UNSET}\nb: ${file:/nonexistent/b}\n");
  substitute_secrets(root, d);
  EXPECT_EQ(d.errors().size(), 2u);
}

TEST(secrets, unknown_reference_kind_is_an_error) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: ${ENV:HOME}\n");
  substitute_secrets(root, d);
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_EQ(d.errors()[0].str(), "t.yaml:1:4: a: unknown reference \"${ENV:HOME}\": write ${env:NAME} or "
                                 "${file:/path}, or $${ for a literal \"${\"");
}

TEST(secrets, unterminated_reference_is_an_error) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: ${env:HOME\n");
  substitute_secrets(root, d);
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_EQ(d.errors()[0].line, 1);
  EXPECT_EQ(d.errors()[0].column, 4);
}

TEST(secrets, double_dollar_is_a_literal_reference_and_not_secret) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: cost $${env:HOME} $5\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(root["a"].Scalar(), "cost ${env:HOME} $5");
  EXPECT_FALSE(d.is_secret(root["a"].Mark()));
}

TEST(secrets, aliased_value_is_substituted_once) {
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
