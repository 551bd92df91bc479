#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace vitals {

struct incidents_options {
  std::string config_path;                // gives state.path
  std::optional<std::string> state_path;  // --state: read this file instead
  std::chrono::milliseconds since{24LL * 3600 * 1000};  // open, or resolved within it
  bool json = false;
};

// `vitalsd incidents`: the incident log from the state store, read-only
// (the daemon may be running). Exit 0, 1 when the store cannot be read,
// 2 on config errors.
int run_incidents(const incidents_options& options);

}  // namespace vitals
