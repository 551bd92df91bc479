#include "probes/sqlite/sqlite_probe.hpp"

#include "support/probe_config_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;
using sqlite_probe_config = test::probe_config_fixture<sqlite_probe>;

TEST_F(sqlite_probe_config, path_alone_is_lock_free_with_no_connection) {
  auto* p = create("probes:\n  - {name: db, type: sqlite, path: /srv/app/app.db}\n");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok());
  EXPECT_EQ(p->target(), "/srv/app/app.db");
  EXPECT_EQ(p->config().integrity, integrity_mode::none);
  EXPECT_EQ(p->config().max_lock_held, 0s);
}

TEST_F(sqlite_probe_config, every_sqlite_key_counts_as_known) {
  auto* p = create(R"(
probes:
  - name: db
    type: sqlite
    path: /srv/app/app.db
    integrity_check: full
    integrity_interval: 6h
    max_lock_held: 30s
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok()) << only_error();
  EXPECT_EQ(p->config().integrity, integrity_mode::full);
  EXPECT_EQ(p->config().integrity_interval, 6h);
  EXPECT_EQ(p->config().max_lock_held, 30s);
}

TEST_F(sqlite_probe_config, quick_means_quick_check) {
  auto* p = create("probes:\n  - {name: db, type: sqlite, path: /a.db, integrity_check: quick}\n");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().integrity, integrity_mode::quick);
}

TEST_F(sqlite_probe_config, unknown_integrity_mode_is_an_error_at_its_value) {
  EXPECT_EQ(create(R"(
probes:
  - name: db
    type: sqlite
    path: /a.db
    integrity_check: thorough
)"),
            nullptr);
  EXPECT_NE(only_error().find("vitals.yaml:6:22: probes[0].integrity_check"), std::string::npos) << only_error();
  EXPECT_NE(only_error().find("quick"), std::string::npos) << only_error();
}

TEST_F(sqlite_probe_config, relative_path_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: db, type: sqlite, path: app.db}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].path: \"app.db\" is not an absolute path"), std::string::npos)
      << only_error();
}

TEST_F(sqlite_probe_config, missing_path_is_an_error_at_the_probe) {
  EXPECT_EQ(create("probes:\n  - name: db\n    type: sqlite\n"), nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:2:5: probes[0].path: missing required key");
}

TEST_F(sqlite_probe_config, misspelt_key_gets_a_suggestion) {
  create("probes:\n  - {name: db, type: sqlite, path: /a.db, integrity_checks: quick}\n");
  EXPECT_NE(only_error().find("did you mean \"integrity_check\""), std::string::npos) << only_error();
}

}  // namespace
}  // namespace vitals
