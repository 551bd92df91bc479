#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace vitals {

// With --json and no --since, the defaults of GET /api/v1/incidents
// (routes.cpp), so the command prints what the API serves: every incident
// kept, the newest 1000. Text is for a person looking back: the last 24 h.
inline constexpr std::chrono::hours incidents_text_since{24};
inline constexpr std::chrono::hours incidents_json_since{24 * 365 * 100};  // "all": a century
inline constexpr std::size_t incidents_json_limit = 1000;

struct incidents_options {
  std::string config_path;                // gives state.path
  std::optional<std::string> state_path;  // --state: read this file instead
  // Open incidents, and those resolved within it. Unset: the last 24 h for
  // text, every one kept for --json. With --json only the newest 1000 of
  // them are printed, as the API does.
  std::optional<std::chrono::milliseconds> since = std::nullopt;
  bool json = false;
};

// `vitalsd incidents`: the incident log from the state store, read-only
// (the daemon may be running). Exit 0, 1 when the store cannot be read,
// 2 on config errors.
int run_incidents(const incidents_options& options);

}  // namespace vitals
