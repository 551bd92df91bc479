#pragma once

// Units as people write and read them: durations ("1m30s") and sizes
// ("64MiB"). Used by the config reader, CLI flags and messages.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vitals {

// "250ms", "15s", "2m", "1h", "1d", decimals ("1.5s") and sums ("1m30s").
// nullopt for anything else, including a bare number (seconds or
// milliseconds? the text must say).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact text parse_duration reads back: "1m30s", "250ms", "1.5s".
std::string format_duration(std::chrono::milliseconds d);

// Bytes: "512", "64KiB", "64MiB", "1GiB", "10MB", "1.5GB" (units in any
// case). nullopt for anything else, or a fraction of a byte.
std::optional<std::uint64_t> parse_size(std::string_view text);

// True when `text` is a number without a unit ("15", "-1.5"): to say that
// a unit is missing rather than that the value makes no sense.
bool is_plain_number(std::string_view text);

// Bytes for people, binary units, one decimal:
// 1536 -> "1.5 KiB", 958398464 -> "914.0 MiB", -2048 -> "-2.0 KiB".
std::string format_bytes(double bytes);

// A measured time, to a useful precision: 0.0046 -> "4.6ms", 1.25 -> "1.25s".
std::string format_seconds(double seconds);

// How long something has lasted, at a glance: "0.4s", "42.0s", "12m03s", "3h07m".
std::string format_age(double seconds);

}  // namespace vitals
