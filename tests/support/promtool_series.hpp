#pragma once

// A series as a `promtool test rules` suite names it under input_series:
// name{a="1",b="2"}. Label values here are plain (no quotes or
// backslashes), as the suites that use it write them.

#include <map>
#include <string>

namespace vitals::test {

inline std::string promtool_series(const std::string& name, const std::map<std::string, std::string>& labels) {
  std::string t = name + "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    t += (first ? "" : ",") + k + "=\"" + v + "\"";
    first = false;
  }
  return t + "}";
}

}  // namespace vitals::test
