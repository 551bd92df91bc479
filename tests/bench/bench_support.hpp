#pragma once

// What every benchmark measures the same way: CPU, RSS, percentiles, and
// the scheduler's runs and lag.

#include "daemon/metrics/metrics.hpp"
#include "daemon/sched/scheduler.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace vitals::bench {

// CPU seconds (user + system) of this process, or of its reaped children.
inline double cpu_seconds(int who = RUSAGE_SELF) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// CPU seconds of another process, from /proc/<pid>/stat.
inline double cpu_seconds_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::string field;
  for (std::size_t i = close + 2; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field += text[i];
    }
  }
  if (fields.size() < 13) return 0;
  // Fields after "(comm) ": state is [0], utime [11], stime [12].
  return (std::stod(fields[11]) + std::stod(fields[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resident memory in MiB of this process or of `pid`.
inline double rss_mib(const std::string& pid = "self") {
  std::ifstream in("/proc/" + pid + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// Forwards to the real metrics and keeps what a benchmark reports.
struct measuring_sink final : run_sink {
  explicit measuring_sink(metrics& m) : m_(m) {}
  void probe_added(const probe_settings& s) override { m_.probe_added(s); }
  void probe_removed(const probe_settings& s) override { m_.probe_removed(s); }
  void run_finished(const probe_settings& s, const run_outcome& o, std::optional<bool> up) override {
    m_.run_finished(s, o, up);
    if (measuring) {
      ++runs;
      failures += o.result.ok ? 0 : 1;
    }
  }
  void run_skipped(const probe_settings& s) override {
    m_.run_skipped(s);
    if (measuring) ++skipped;
  }
  void scheduler_lag(double seconds) override {
    m_.scheduler_lag(seconds);
    if (measuring) lags.push_back(seconds);
  }
  metrics& m_;
  bool measuring = false;
  std::uint64_t runs = 0, failures = 0, skipped = 0;
  std::vector<double> lags;
};

}  // namespace vitals::bench
