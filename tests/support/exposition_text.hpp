#pragma once

// A reader of the Prometheus text exposition, as Prometheus would read it:
// the reference the tests hold /metrics and the alert engine's selection
// against. Comment lines are skipped; histogram buckets keep their `le`.

#include "daemon/alerts/alert_expr.hpp"

#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace vitals::test {

inline std::vector<alerts::series> parse_exposition(std::string_view text) {
  using alerts::series;
  std::vector<series> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    series s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const auto eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string name(line.substr(i, eq - i));
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        s.label_values.emplace(std::move(name), std::move(value));
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      // An unclosed quote or label set (found by fuzz_exposition): not a sample line.
      if (i >= line.size() || line[i] != '}') continue;
      ++i;
    }
    while (i < line.size() && line[i] == ' ') ++i;
    const auto end = line.find(' ', i);
    const std::string number(line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
    if (number == "NaN") {
      s.value = std::numeric_limits<double>::quiet_NaN();
    } else if (number == "+Inf" || number == "Inf") {
      s.value = std::numeric_limits<double>::infinity();
    } else if (number == "-Inf") {
      s.value = -std::numeric_limits<double>::infinity();
    } else {
      char* parsed_end = nullptr;
      s.value = std::strtod(number.c_str(), &parsed_end);
      if (number.empty() || parsed_end != number.c_str() + number.size()) continue;  // not a sample line
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace vitals::test
