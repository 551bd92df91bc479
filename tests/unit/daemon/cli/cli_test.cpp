#include "daemon/cli/cli.hpp"

#include <gtest/gtest.h>

using namespace vitals;
using cmd = command_line::command;

TEST(cli, no_arguments_runs_the_daemon_with_the_default_config) {
  const auto c = parse_command_line({});
  EXPECT_EQ(c.cmd, cmd::run);
  EXPECT_EQ(c.config_path, "/etc/vitals/vitals.yaml");
  EXPECT_TRUE(c.error.empty());
}

TEST(cli, check_takes_config_and_probe_in_either_spelling) {
  const auto a = parse_command_line({"check", "-c", "x.yaml", "--probe", "api"});
  EXPECT_EQ(a.cmd, cmd::check);
  EXPECT_EQ(a.config_path, "x.yaml");
  EXPECT_EQ(a.probe, "api");
  const auto b = parse_command_line({"check", "--config=y.yaml", "--probe=db"});
  EXPECT_EQ(b.config_path, "y.yaml");
  EXPECT_EQ(b.probe, "db");
}

TEST(cli, probe_flag_outside_check_is_an_error) {
  EXPECT_FALSE(parse_command_line({"run", "--probe", "x"}).error.empty());
}

TEST(cli, unknown_command_or_option_or_missing_value_is_an_error) {
  EXPECT_NE(parse_command_line({"start"}).error.find("unknown command"), std::string::npos);
  EXPECT_NE(parse_command_line({"--verbose"}).error.find("unknown option"), std::string::npos);
  EXPECT_NE(parse_command_line({"validate", "-c"}).error.find("needs a value"), std::string::npos);
}

TEST(cli, version_and_help_flags) {
  EXPECT_EQ(parse_command_line({"--version"}).cmd, cmd::version);
  EXPECT_EQ(parse_command_line({"-h"}).cmd, cmd::help);
}

TEST(cli, web_config_file_goes_with_run_and_validate_in_either_spelling) {
  const auto run = parse_command_line({"-c", "v.yaml", "--web.config.file", "web.yml"});
  EXPECT_EQ(run.cmd, cmd::run);
  EXPECT_EQ(run.web_config_file, "web.yml");
  const auto validate = parse_command_line({"validate", "--web.config.file=web.yml"});
  EXPECT_EQ(validate.web_config_file, "web.yml");
  EXPECT_TRUE(validate.error.empty());
  EXPECT_EQ(parse_command_line({"check", "--web.config.file", "web.yml"}).error,
            "--web.config.file works only with run and validate");
}

TEST(cli, init_takes_scan_dirs_http_output_and_force) {
  const auto cl = parse_command_line({"init", "--scan", "/srv/a", "--scan=/srv/b", "--http", "-o", "x.yaml", "--force"});
  EXPECT_TRUE(cl.error.empty()) << cl.error;
  EXPECT_EQ(cl.cmd, command_line::command::init);
  EXPECT_EQ(cl.scan_dirs, (std::vector<std::string>{"/srv/a", "/srv/b"}));
  EXPECT_TRUE(cl.http);
  EXPECT_EQ(cl.output, "x.yaml");
  EXPECT_TRUE(cl.force);
  EXPECT_EQ(parse_command_line({"check", "--http"}).error, "--http works only with init");
  EXPECT_EQ(parse_command_line({"init", "--scan"}).error, "--scan needs a value");
}
