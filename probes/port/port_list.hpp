#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

// A port probe checks at most this many ports: each run opens one socket per
// port, and a typo like "1-65535" should be an error, not a port scan.
inline constexpr std::size_t max_ports_per_probe = 1024;

// Result of parsing a `ports:` string. Exactly one of `ports` (sorted,
// without duplicates) and `error` is meaningful: `error` is empty on success.
struct port_list_parse {
  std::vector<std::uint16_t> ports;
  std::string error;  // e.g. "\"3010-3005\" is not a valid range (start after end)"
};

// Parses "3001", "3005-3010" or "3001, 3005-3010". Pure; no I/O.
port_list_parse parse_port_list(std::string_view text);

// Sorts and removes duplicates; says what is wrong when `ports` is empty or
// longer than max_ports_per_probe, else nullopt.
std::optional<std::string> normalize_port_list(std::vector<std::uint16_t>& ports);

// The inverse of parse_port_list for sorted ports: {3001, 3005, 3006, 3007}
// -> "3001,3005-3007".
std::string format_port_list(const std::vector<std::uint16_t>& sorted_ports);

// Same, for people reading an error: "3001, 3005-3007".
std::string format_port_list_readable(const std::vector<std::uint16_t>& sorted_ports);

}  // namespace vitals
