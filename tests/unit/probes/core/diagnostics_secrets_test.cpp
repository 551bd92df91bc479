// A config error never shows a value that came from ${env:}/${file:}, in
// whatever message or key path it appears, and secrets() hands the values on.

#include "probes/core/diagnostics.hpp"
#include "probes/core/secrets.hpp"

#include "support/temp_env.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

namespace vitals {
namespace {

YAML::Mark at(int line, int column) {
  YAML::Mark m;
  m.line = line;
  m.column = column;
  return m;
}

TEST(diagnostics_secrets, an_error_quoting_a_secret_shows_it_redacted) {
  diagnostics d("t.yaml");
  d.add_secret("port-s3cr3t");
  d.add(at(2, 4), "probes[0].address", "127.0.0.1:port-s3cr3t has an invalid port \"port-s3cr3t\"");
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_EQ(d.errors()[0].str(),
            "t.yaml:3:5: probes[0].address: 127.0.0.1:<redacted> has an invalid port \"<redacted>\"");
}

TEST(diagnostics_secrets, errors_added_before_the_secret_was_known_are_redacted_too) {
  diagnostics d("t.yaml");
  d.add(at(0, 0), "a.hunter2-key", "value hunter2-value");
  d.add_secret("hunter2-value");
  d.add_secret("hunter2-key");
  EXPECT_EQ(d.errors()[0].str(), "t.yaml:1:1: a.<redacted>: value <redacted>");
}

TEST(diagnostics_secrets, a_long_message_is_redacted_before_it_is_cut) {
  // Cut first, the message would keep the start of the secret.
  diagnostics d("t.yaml");
  const std::string secret(100, 'S');
  d.add_secret(secret);
  d.add(at(0, 0), "k", std::string(350, 'x') + secret);
  const auto& message = d.errors()[0].message;
  EXPECT_EQ(message.find('S'), std::string::npos) << message;
  EXPECT_NE(message.find("<redacted>"), std::string::npos) << message;
}

TEST(diagnostics_secrets, substitution_records_each_piece_filled_in) {
  test::scoped_env user("VITALS_TEST_USER", "monitor-7");
  test::temp_file token("tok-55\n");
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: \"x ${env:VITALS_TEST_USER} y\"\nb: ${file:" + token.path() + "}\nc: plain\n");
  substitute_secrets(root, d);
  ASSERT_TRUE(d.ok());
  const auto secrets = d.secrets().secrets();
  ASSERT_EQ(secrets.size(), 2u);
  EXPECT_EQ(secrets[0], "monitor-7");
  EXPECT_EQ(secrets[1], "tok-55");  // without the file's newline
}

TEST(diagnostics_secrets, without_references_there_are_no_secrets) {
  diagnostics d("t.yaml");
  YAML::Node root = YAML::Load("a: plain\nb: $${literal}\n");
  substitute_secrets(root, d);
  EXPECT_TRUE(d.secrets().empty());
}

}  // namespace
}  // namespace vitals
