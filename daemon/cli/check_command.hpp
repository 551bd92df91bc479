#pragma once

#include <optional>
#include <string>

namespace vitals {

struct check_options {
  std::string config_path;
  std::optional<std::string> probe;  // only this one
  bool color = false;                // ANSI colours (a TTY without NO_COLOR)
};

// `vitalsd check`: every probe once, concurrently, each under its own
// timeout; prints a table with ✓/✗, duration, cause and evidence to stdout.
// Returns 0 all ok, 1 some failed, 2 config error (errors on stderr).
int run_check(const check_options& options);

// `vitalsd validate`: 0 ok, 2 errors (one per line on stderr).
// Checks the config file and the web config it names (or `web_config_file`).
int run_validate(const std::string& config_path, const std::string& web_config_file = {});

// `vitalsd rules`: the active alert rules (built-in and the file's) as a
// Prometheus rule file on stdout; exit 0, or 2 on config errors.
int run_rules(const std::string& config_path);

}  // namespace vitals
