#include "probes/core/time_format.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace vitals {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms_total = unix_ms(t);
  std::time_t secs = static_cast<std::time_t>(ms_total / 1000);
  long long ms = ms_total % 1000;
  if (ms < 0) {  // before 1970: floor, not truncate
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", date, ms);
  return out;
}

std::string short_duration(std::chrono::system_clock::duration d) {
  const long long s = std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(d).count());
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d" + std::to_string(s % 86400 / 3600) + "h";
}

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_unix_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::milliseconds(ms)));
}

}  // namespace vitals
