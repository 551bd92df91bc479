#pragma once

// `vitalsd init`: a commented config, written from what runs on this host
// (docs/configuration.md, "Starting from what runs here").

#include "daemon/cli/host_survey.hpp"

#include <optional>
#include <string>
#include <vector>

namespace vitals {

struct init_options {
  std::vector<std::string> scan_dirs;  // --scan DIR: SQLite files and their disks
  bool http = false;                   // --http: ask listeners for health paths and WebSocket upgrades
  std::optional<std::string> output;   // -o FILE; else stdout
  bool force = false;                  // --force: overwrite FILE
};

// The YAML text for what `survey` found; with `http`, also asks each
// listener (see service_pokes.hpp). Never writes a secret: passwords are
// left as commented ${env:} placeholders.
std::string init_config_text(const host_survey& survey, bool http);

// Surveys the host, writes the config to stdout or -o FILE, and tells on
// stderr what could not be seen. 0 when written; 1 when FILE exists and
// --force is missing, or cannot be written.
int run_init(const init_options& options);

}  // namespace vitals
