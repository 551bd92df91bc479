#include "probes/disk/disk_probe.hpp"

#include "support/probe_config_fixture.hpp"

#include "daemon/app/config.hpp"
#include "probes/core/node_reader.hpp"
#include "probes/core/probe_registry.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

namespace vitals {
namespace {

using disk_probe_config = test::probe_config_fixture<disk_probe>;

TEST_F(disk_probe_config, path_alone_builds_a_probe_without_thresholds) {
  auto* p = create(R"(
probes:
  - name: pgdata
    type: disk
    path: /var/lib/postgresql
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok());
  EXPECT_EQ(p->target(), "/var/lib/postgresql");
  EXPECT_FALSE(p->config().limits.min_free_ratio);
  EXPECT_FALSE(p->config().limits.min_free);
}

TEST_F(disk_probe_config, every_disk_key_counts_as_known) {
  auto* p = create(R"(
probes:
  - name: pgdata
    type: disk
    path: /var/lib/postgresql
    min_free_ratio: 0.2
    min_free: 5GiB
)");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(diags.ok()) << only_error();  // finish() found no unknown key
  EXPECT_EQ(p->config().limits.min_free_ratio, 0.2);
  EXPECT_EQ(p->config().limits.min_free, 5ull * 1024 * 1024 * 1024);
}

TEST_F(disk_probe_config, missing_path_is_an_error_at_the_probe) {
  EXPECT_EQ(create(R"(
probes:
  - name: pgdata
    type: disk
)"),
            nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:3:5: probes[0].path: missing required key");
}

TEST_F(disk_probe_config, relative_path_is_an_error_at_the_path) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: disk, path: data/pg}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].path: \"data/pg\" is not an absolute path"), std::string::npos)
      << only_error();
}

TEST_F(disk_probe_config, ratio_above_one_is_an_error_at_the_ratio) {
  EXPECT_EQ(create(R"(
probes:
  - name: pgdata
    type: disk
    path: /var/lib/postgresql
    min_free_ratio: 1.5
)"),
            nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:6:21: probes[0].min_free_ratio: \"1.5\" is not a ratio between 0 and 1 "
                          "(for 20% write 0.2)");
}

TEST_F(disk_probe_config, negative_ratio_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: disk, path: /data, min_free_ratio: -0.1}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].min_free_ratio: \"-0.1\" is not a ratio between 0 and 1"),
            std::string::npos)
      << only_error();
}

TEST_F(disk_probe_config, non_numeric_ratio_is_an_error) {
  EXPECT_EQ(create("probes:\n  - {name: a, type: disk, path: /data, min_free_ratio: 20%}\n"), nullptr);
  EXPECT_NE(only_error().find("probes[0].min_free_ratio: expected a number"), std::string::npos) << only_error();
}

TEST_F(disk_probe_config, bad_size_is_an_error_at_min_free) {
  EXPECT_EQ(create(R"(
probes:
  - name: pgdata
    type: disk
    path: /var/lib/postgresql
    min_free: lots
)"),
            nullptr);
  EXPECT_EQ(only_error(),
            "vitals.yaml:6:15: probes[0].min_free: expected a size like \"512\", \"64KiB\" or \"10MB\", got \"lots\"");
}

TEST_F(disk_probe_config, unknown_key_is_reported_with_a_hint) {
  create("probes:\n  - {name: a, type: disk, path: /data, min_free_ration: 0.2}\n");
  EXPECT_NE(only_error().find("min_free_ration"), std::string::npos) << only_error();
}

// Through the registry and the config loader, as the daemon builds it.
class disk_probe_factory : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  probe_registry registry;

  disk_probe_factory() { registry.add<disk_probe>(); }

  load_result load(const std::string& probe_lines) {
    return load_config_text("probes:\n  - name: pgdata\n    type: disk\n" + probe_lines, "vitals.yaml", registry, ctx);
  }

  static std::string all_errors(const load_result& r) {
    std::string all;
    for (const auto& e : r.errors) all += e.str() + "\n";
    return all;
  }
};

TEST_F(disk_probe_factory, registry_knows_the_kind_and_its_metrics) {
  const auto* kind = registry.find("disk");
  ASSERT_NE(kind, nullptr);
  std::vector<std::string> names;
  for (const auto& m : kind->metrics) names.emplace_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"vitals_disk_free_bytes", "vitals_disk_size_bytes",
                                             "vitals_disk_free_ratio", "vitals_disk_free_inodes",
                                             "vitals_disk_free_inodes_ratio"}));
}

TEST_F(disk_probe_factory, loads_a_disk_probe) {
  auto r = load("    path: /var/lib/postgresql\n    min_free_ratio: 0.2\n");
  ASSERT_NE(r.cfg, nullptr) << all_errors(r);
  ASSERT_EQ(r.cfg->probes.size(), 1u);
  const auto& p = dynamic_cast<const disk_probe&>(*r.cfg->probes[0].instance);
  EXPECT_EQ(p.target(), "/var/lib/postgresql");
  EXPECT_EQ(p.config().limits.min_free_ratio, 0.2);
}

TEST_F(disk_probe_factory, errors_carry_file_line_and_column) {
  auto r = load("    path: /data\n    min_free_ratio: 1.5\n    min_free: 3 apples\n");
  EXPECT_EQ(r.cfg, nullptr);
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_EQ(r.errors[0].str(),
            "vitals.yaml:5:21: probes[0].min_free_ratio: \"1.5\" is not a ratio between 0 and 1 (for 20% write 0.2)");
  EXPECT_EQ(r.errors[1].path, "probes[0].min_free");
  EXPECT_EQ(r.errors[1].line, 6);
  EXPECT_EQ(r.errors[1].column, 15);
}

TEST_F(disk_probe_factory, missing_path_is_reported) {
  auto r = load("    min_free: 1GiB\n");
  EXPECT_EQ(r.cfg, nullptr);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].path, "probes[0].path");
  EXPECT_EQ(r.errors[0].message, "missing required key");
  EXPECT_EQ(r.errors[0].file, "vitals.yaml");
  EXPECT_EQ(r.errors[0].line, 2);
}

}  // namespace
}  // namespace vitals
