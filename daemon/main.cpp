// vitalsd: parse argv, set up logging, hand over to the command.
#include "daemon/app/app.hpp"
#include "daemon/app/logging.hpp"
#include "daemon/app/root_warning.hpp"
#include "daemon/cli/check_command.hpp"
#include "daemon/cli/cli.hpp"
#include "daemon/cli/incidents_command.hpp"
#include "daemon/cli/init_command.hpp"
#include "probes/core/units.hpp"
#include "probes/core/version.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>


int main(int argc, char** argv) {
  using vitals::command_line;
  const auto cl = vitals::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
  if (!cl.error.empty()) {
    std::cerr << "vitalsd: " << cl.error << "\n\n" << vitals::usage_text();
    return 2;
  }
  switch (cl.cmd) {
    case command_line::command::help:
      std::cout << vitals::usage_text();
      return 0;
    case command_line::command::version:
      std::cout << "vitalsd " << vitals::version() << " (" << vitals::revision() << ")\n";
      return 0;
    case command_line::command::validate:
      return vitals::run_validate(cl.config_path, cl.web_config_file.value_or(""));
    case command_line::command::rules:
      return vitals::run_rules(cl.config_path);
    case command_line::command::incidents: {
      vitals::incidents_options o{cl.config_path, cl.state_path, {}, cl.json};
      if (cl.since) {
        const auto d = vitals::parse_duration(*cl.since);
        if (!d) {
          std::cerr << "vitalsd: --since: expected a duration such as 30m, 24h or 7d, got \"" << *cl.since << "\"\n";
          return 2;
        }
        o.since = std::min<std::chrono::milliseconds>(*d, std::chrono::hours(24 * 365 * 100));
      }
      return vitals::run_incidents(o);
    }
    case command_line::command::init:
      if (cl.force && !cl.output) {
        std::cerr << "vitalsd: --force works only with -o FILE\n";
        return 2;
      }
      return vitals::run_init({cl.scan_dirs, cl.http, cl.output, cl.force});
    case command_line::command::check: {
      vitals::setup_logging({.level = "warn", .format = "text"});
      const char* no_color = std::getenv("NO_COLOR");  // no-color.org: set and not empty
      const bool color = isatty(STDOUT_FILENO) && !(no_color && *no_color);
      return vitals::run_check({cl.config_path, cl.probe, color});
    }
    case command_line::command::run:
      vitals::setup_logging({});
      vitals::warn_when_root_outside_systemd(cl.config_path);
      return vitals::app(cl.config_path, cl.web_config_file.value_or("")).run();
  }
  return 2;
}
