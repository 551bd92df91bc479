#pragma once

// Runs a shell command (a real tool such as promtool) and returns
// "ok\n" or "FAILED\n" followed by what it printed on stdout and stderr,
// so a failing assertion shows the tool's own words.

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace vitals::test {

inline std::string run_shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  return (WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok\n" : "FAILED\n") + out;
}

}  // namespace vitals::test
