#pragma once

#include <optional>
#include <string>
#include <vector>

namespace vitals {

struct command_line {
  enum class command { run, check, validate, rules, incidents, init, help, version };
  command cmd = command::run;
  std::string config_path = "/etc/vitals/vitals.yaml";
  std::optional<std::string> web_config_file;  // run/validate --web.config.file FILE
  std::optional<std::string> probe;  // check --probe NAME
  std::optional<std::string> state_path;  // incidents --state PATH
  std::optional<std::string> since;       // incidents --since DURATION
  bool json = false;                      // incidents --json
  std::vector<std::string> scan_dirs;     // init --scan DIR (repeatable)
  bool http = false;                      // init --http
  std::optional<std::string> output;      // init -o FILE
  bool force = false;                     // init --force
  std::string error;                 // set when argv is unusable
};

command_line parse_command_line(const std::vector<std::string>& args);
std::string usage_text();

}  // namespace vitals
