#include "probes/port/port_list.hpp"

#include <algorithm>
#include <charconv>

namespace vitals {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A decimal port number 1..65535; anything else (signs, hex, spaces) is not.
bool parse_port(std::string_view text, std::uint16_t& port, std::string& error) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size()) {
    error = "\"" + std::string(text) + "\" is not a port number";
    return false;
  }
  if (ec == std::errc::result_out_of_range || value < 1 || value > 65535) {
    error = std::string(text) + " is not a valid port (1-65535)";
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::string join_ranges(const std::vector<std::uint16_t>& ports, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < ports.size();) {
    std::size_t j = i;
    while (j + 1 < ports.size() && ports[j + 1] == ports[j] + 1) ++j;
    if (!out.empty()) out += separator;
    out += std::to_string(ports[i]);
    if (j > i) out += "-" + std::to_string(ports[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

port_list_parse parse_port_list(std::string_view text) {
  port_list_parse result;
  const std::string whole = "\"" + std::string(text) + "\"";
  if (trim(text).empty()) {
    result.error = whole + " is not a port list; expected e.g. \"3001,3005-3010\"";
    return result;
  }
  std::vector<std::uint16_t> ports;
  while (true) {
    const auto comma = text.find(',');
    const auto item = trim(text.substr(0, comma));
    if (item.empty()) {
      result.error = whole + " has an empty item; expected e.g. \"3001,3005-3010\"";
      return result;
    }
    const auto dash = item.find('-');
    if (dash == std::string_view::npos) {
      std::uint16_t port = 0;
      if (!parse_port(item, port, result.error)) return result;
      ports.push_back(port);
    } else {
      std::uint16_t first = 0;
      std::uint16_t last = 0;
      if (!parse_port(trim(item.substr(0, dash)), first, result.error) ||
          !parse_port(trim(item.substr(dash + 1)), last, result.error))
        return result;
      if (first > last) {
        result.error = "\"" + std::string(item) + "\" is not a valid range (start after end)";
        return result;
      }
      // Checked before filling, so "1-65535" costs nothing.
      if (ports.size() + (last - first + 1u) > max_ports_per_probe) {
        result.error = whole + " covers more than " + std::to_string(max_ports_per_probe) + " ports (the most one probe checks)";
        return result;
      }
      for (std::uint32_t p = first; p <= last; ++p) ports.push_back(static_cast<std::uint16_t>(p));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  // Cannot fail here: ports is non-empty and was size-checked above.
  if (const auto problem = normalize_port_list(ports))
    result.error = whole + " " + *problem;
  else
    result.ports = std::move(ports);
  return result;
}

std::optional<std::string> normalize_port_list(std::vector<std::uint16_t>& ports) {
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  if (ports.empty()) return "lists no port";
  if (ports.size() > max_ports_per_probe)
    return "covers " + std::to_string(ports.size()) + " ports; at most " + std::to_string(max_ports_per_probe) +
           " per probe";
  return {};
}

std::string format_port_list(const std::vector<std::uint16_t>& sorted_ports) {
  return join_ranges(sorted_ports, ",");
}

std::string format_port_list_readable(const std::vector<std::uint16_t>& sorted_ports) {
  return join_ranges(sorted_ports, ", ");
}

}  // namespace vitals
