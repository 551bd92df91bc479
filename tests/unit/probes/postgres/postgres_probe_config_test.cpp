#include "probes/postgres/postgres_probe.hpp"

#include "support/probe_config_fixture.hpp"

#include "daemon/app/config.hpp"
#include "probes/core/probe_registry.hpp"
#include "support/temp_env.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;

class postgres_probe_config : public test::probe_config_fixture<postgres_probe> {
protected:
  postgres_probe* create(const std::string& yaml, std::chrono::milliseconds timeout = 5s) {
    probe_settings common;
    common.timeout = timeout;
    return create_with(yaml, common);
  }
};

TEST_F(postgres_probe_config, keyword_conninfo_builds_a_probe_with_a_secret_free_target) {
  auto* p = create(R"(
probes:
  - name: pg
    type: postgres
    conninfo: "host=127.0.0.1 port=5433 dbname=app user=monitor"
    password: hunter2
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok());
  EXPECT_EQ(p->target(), "127.0.0.1:5433/app");
  EXPECT_EQ(p->config().password, "hunter2");
  EXPECT_EQ(p->config().statement_timeout, 4000ms);  // 80 % of the 5 s timeout
}

TEST_F(postgres_probe_config, uri_conninfo_is_accepted) {
  auto* p = create(R"(
probes:
  - {name: pg, type: postgres, conninfo: "postgresql://monitor@db.internal:6432/app"}
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->target(), "db.internal:6432/app");
}

TEST_F(postgres_probe_config, port_defaults_to_5432_and_database_to_the_user) {
  auto* p = create("probes:\n  - {name: pg, type: postgres, conninfo: \"host=::1 user=monitor\"}\n");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->target(), "[::1]:5432/monitor");
}

TEST_F(postgres_probe_config, password_inside_conninfo_is_kept_as_a_secret_and_not_in_the_target) {
  auto* p = create(R"(
probes:
  - {name: pg, type: postgres, conninfo: "host=127.0.0.1 dbname=app user=monitor password=hunter2"}
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().password, "hunter2");
  for (const auto& [k, v] : p->config().params) EXPECT_NE(k, "password");
  EXPECT_EQ(p->target().find("hunter2"), std::string::npos);
}

TEST_F(postgres_probe_config, password_from_the_environment_wins_over_conninfo) {
  test::scoped_env env("VITALS_TEST_PGPASSWORD", "from-env");
  auto* p = create(R"(
probes:
  - name: pg
    type: postgres
    conninfo: "host=127.0.0.1 dbname=app user=monitor password=in-conninfo"
    password: ${env:VITALS_TEST_PGPASSWORD}
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_EQ(p->config().password, "from-env");
}

TEST_F(postgres_probe_config, missing_conninfo_is_an_error_at_the_probe) {
  EXPECT_EQ(create("probes:\n  - {name: pg, type: postgres}\n"), nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:2:5: probes[0].conninfo: missing required key");
}

TEST_F(postgres_probe_config, unknown_conninfo_keyword_is_an_error_at_conninfo) {
  EXPECT_EQ(create(R"(
probes:
  - name: pg
    type: postgres
    conninfo: "host=127.0.0.1 dbnme=app"
)"),
            nullptr);
  EXPECT_EQ(only_error(),
            "vitals.yaml:5:15: probes[0].conninfo: is not a valid libpq connection string: "
            "invalid connection option \"dbnme\"");
}

TEST_F(postgres_probe_config, bad_conninfo_holding_a_password_does_not_echo_it) {
  EXPECT_EQ(create(R"(
probes:
  - name: pg
    type: postgres
    conninfo: "host=127.0.0.1 password=hunter2 user"
)"),
            nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:5:15: probes[0].conninfo: is not a valid libpq connection string "
                          "(details hidden: it holds a password)");
}

TEST_F(postgres_probe_config, conninfo_without_host_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: pg, type: postgres, conninfo: \"dbname=app\"}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].conninfo: needs host="), std::string::npos) << only_error();
}

TEST_F(postgres_probe_config, several_hosts_are_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: pg, type: postgres, conninfo: \"host=a,b dbname=app\"}\n"), nullptr);
  EXPECT_NE(only_error().find("lists several hosts; use one probe per server"), std::string::npos) << only_error();
}

TEST_F(postgres_probe_config, bad_port_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: pg, type: postgres, conninfo: \"host=db port=70000\"}\n"), nullptr);
  EXPECT_NE(only_error().find("port=70000 is not a valid port (1-65535)"), std::string::npos) << only_error();
}

TEST_F(postgres_probe_config, unknown_key_gets_a_suggestion) {
  create(R"(
probes:
  - name: pg
    type: postgres
    conninfo: "host=127.0.0.1"
    pasword: x
)");
  ASSERT_EQ(diags.errors().size(), 1u) << only_error();
  EXPECT_NE(only_error().find("vitals.yaml:6:5: probes[0].pasword"), std::string::npos) << only_error();
  EXPECT_NE(only_error().find("password"), std::string::npos) << only_error();
}

TEST_F(postgres_probe_config, registers_under_type_postgres_with_its_metrics) {
  probe_registry registry;
  registry.add<postgres_probe>();
  const auto* kind = registry.find("postgres");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->metrics.size(), 8u);

  const auto loaded = load_config_text(R"(
probes:
  - name: pg
    type: postgres
    conninfo: "host=127.0.0.1 dbname=app user=monitor"
    password: hunter2
)",
                                       "vitals.yaml", registry, ctx);
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors.front().str();
  ASSERT_EQ(loaded.cfg->probes.size(), 1u);
  EXPECT_EQ(loaded.cfg->probes[0].instance->target(), "127.0.0.1:5432/app");
}

}  // namespace
}  // namespace vitals
