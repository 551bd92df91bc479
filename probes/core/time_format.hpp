#pragma once

// Wall-clock times as the API, the notifiers and the state store write them.

#include <chrono>
#include <cstdint>
#include <string>

namespace vitals {

// RFC 3339 in UTC with milliseconds: 2026-12-01T15:46:32.123Z.
std::string rfc3339(std::chrono::system_clock::time_point t);

// A duration as people read it at a glance: "42s", "17m", "3h5m", "2d4h".
std::string short_duration(std::chrono::system_clock::duration d);

// Milliseconds since the Unix epoch, and back.
std::int64_t unix_ms(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point from_unix_ms(std::int64_t ms);

}  // namespace vitals
