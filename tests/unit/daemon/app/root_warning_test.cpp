// The warning `vitalsd run` logs when started by hand as root.

#include "daemon/app/root_warning.hpp"

#include <gtest/gtest.h>

namespace vitals {
namespace {

TEST(root_warning, root_outside_systemd_is_told_what_it_exposes_and_how_to_run_as_a_user) {
  const auto w = root_warning(0, nullptr, "/etc/vitals/vitals.yaml");
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("running as root outside systemd"), std::string::npos) << *w;
  EXPECT_NE(w->find("command line"), std::string::npos) << *w;
  EXPECT_NE(w->find("state store"), std::string::npos) << *w;
  EXPECT_NE(w->find("runuser -u vitals -- vitalsd run -c /etc/vitals/vitals.yaml"), std::string::npos) << *w;
  EXPECT_EQ(w->find('\n'), std::string::npos);
}

TEST(root_warning, root_started_by_systemd_is_not_warned) {
  EXPECT_EQ(root_warning(0, "4f1e2d3c4b5a69788796a5b4c3d2e1f0", "/etc/vitals/vitals.yaml"), std::nullopt);
}

TEST(root_warning, an_empty_invocation_id_is_not_systemd) {
  EXPECT_TRUE(root_warning(0, "", "/etc/vitals/vitals.yaml"));
}

TEST(root_warning, another_user_is_not_warned) {
  EXPECT_EQ(root_warning(997, nullptr, "/etc/vitals/vitals.yaml"), std::nullopt);
}

TEST(root_warning, a_hostile_config_path_is_quoted_printably) {
  const auto w = root_warning(0, nullptr, "/tmp/x\n\x1b[2Jy.yaml");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->find('\n'), std::string::npos);
  EXPECT_EQ(w->find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace vitals
