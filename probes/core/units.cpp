#include "probes/core/units.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>
#include <utility>

namespace vitals {

namespace {

// A non-negative decimal number "12" or "1.5", kept exact as
// whole + fraction / fraction_scale so "1.5s" is exactly 1500 ms.
struct decimal {
  std::uint64_t whole = 0;
  std::uint64_t fraction = 0;
  std::uint64_t fraction_scale = 1;
  bool has_point = false;
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Consumes a decimal from the front of `text`. Up to six significant
// fraction digits: more would overflow the exact arithmetic below and mean
// nothing for intervals or byte counts anyway.
std::optional<decimal> take_decimal(std::string_view& text) {
  decimal d;
  std::size_t i = 0;
  if (i >= text.size() || !is_digit(text[i])) return std::nullopt;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    if (__builtin_mul_overflow(d.whole, 10u, &d.whole) ||
        __builtin_add_overflow(d.whole, static_cast<unsigned>(text[i] - '0'), &d.whole))
      return std::nullopt;
  }
  if (i < text.size() && text[i] == '.') {
    d.has_point = true;
    ++i;
    std::size_t first = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    std::string_view digits = text.substr(first, i - first);
    if (digits.empty()) return std::nullopt;
    while (!digits.empty() && digits.back() == '0') digits.remove_suffix(1);
    if (digits.size() > 6) return std::nullopt;
    for (char c : digits) {
      d.fraction = d.fraction * 10 + static_cast<std::uint64_t>(c - '0');
      d.fraction_scale *= 10;
    }
  }
  text.remove_prefix(i);
  return d;
}

// d * unit, only when the result is a whole number of base units.
std::optional<std::uint64_t> scale(const decimal& d, std::uint64_t unit) {
  std::uint64_t whole = 0;
  if (__builtin_mul_overflow(d.whole, unit, &whole)) return std::nullopt;
  // fraction < 10^6 and unit < 2^41, so this cannot overflow.
  std::uint64_t scaled_fraction = d.fraction * unit;
  if (scaled_fraction % d.fraction_scale != 0) return std::nullopt;
  std::uint64_t total = 0;
  if (__builtin_add_overflow(whole, scaled_fraction / d.fraction_scale, &total)) return std::nullopt;
  return total;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t total = 0;
  while (!text.empty()) {
    auto number = take_decimal(text);
    if (!number) return std::nullopt;
    std::uint64_t unit = 0;
    if (text.starts_with("ms")) {
      unit = 1;
      text.remove_prefix(2);
    } else if (!text.empty()) {
      switch (text.front()) {
        case 's': unit = 1'000; break;
        case 'm': unit = 60'000; break;
        case 'h': unit = 3'600'000; break;
        case 'd': unit = 86'400'000; break;
        default: return std::nullopt;
      }
      text.remove_prefix(1);
    } else {
      return std::nullopt;  // a bare number: seconds or milliseconds? Say which.
    }
    auto part = scale(*number, unit);
    if (!part || __builtin_add_overflow(total, *part, &total)) return std::nullopt;
  }
  if (total > static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max()))
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(total));
}

std::string format_duration(std::chrono::milliseconds d) {
  using rep = std::chrono::milliseconds::rep;
  rep ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  rep days = ms / 86'400'000;
  ms %= 86'400'000;
  rep hours = ms / 3'600'000;
  ms %= 3'600'000;
  rep minutes = ms / 60'000;
  ms %= 60'000;
  rep seconds = ms / 1'000;
  ms %= 1'000;
  if (days) out += std::to_string(days) + "d";
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  bool larger = days || hours || minutes;
  if (seconds == 0 && ms != 0 && !larger) return out + std::to_string(ms) + "ms";
  if (seconds != 0 || ms != 0) {
    out += std::to_string(seconds);
    if (ms != 0) {
      // Shortest exact form: 1500 ms is "1.5s", not "1s500ms".
      char buf[8];
      std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(ms));
      std::string fraction = buf;
      while (fraction.back() == '0') fraction.pop_back();
      out += fraction;
    }
    out += "s";
  }
  return out;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto number = take_decimal(text);
  if (!number) return std::nullopt;
  static const std::pair<std::string_view, std::uint64_t> units[] = {
      {"", 1},
      {"b", 1},
      {"kb", 1'000},
      {"mb", 1'000'000},
      {"gb", 1'000'000'000},
      {"tb", 1'000'000'000'000},
      {"kib", 1ull << 10},
      {"mib", 1ull << 20},
      {"gib", 1ull << 30},
      {"tib", 1ull << 40},
  };
  std::string unit = lower(text);
  for (const auto& [name, factor] : units) {
    if (unit != name) continue;
    // "1.5" alone is not a byte count; "1.5KB" is.
    if (name.empty() && number->has_point) return std::nullopt;
    return scale(*number, factor);
  }
  return std::nullopt;
}

bool is_plain_number(std::string_view text) {
  if (text.empty()) return false;
  if (text.front() == '-' || text.front() == '+') text.remove_prefix(1);
  auto d = take_decimal(text);
  return d && text.empty();
}

std::string format_bytes(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t unit = 0;
  while (std::fabs(bytes) >= 1024 && unit + 1 < std::size(units)) {
    bytes /= 1024;
    ++unit;
  }
  char text[64];
  if (unit == 0)
    std::snprintf(text, sizeof text, "%.0f B", bytes);
  else
    std::snprintf(text, sizeof text, "%.1f %s", bytes, units[unit]);
  return text;
}

std::string format_seconds(double seconds) {
  char text[32];
  if (seconds < 1)
    std::snprintf(text, sizeof text, "%.1fms", seconds * 1000);
  else
    std::snprintf(text, sizeof text, "%.2fs", seconds);
  return text;
}

std::string format_age(double seconds) {
  char text[48];
  if (seconds < 60) {
    std::snprintf(text, sizeof text, "%.1fs", seconds);
  } else if (seconds < 3600) {
    const auto s = static_cast<long long>(seconds);
    std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  } else {
    const auto m = static_cast<long long>(seconds / 60);
    std::snprintf(text, sizeof text, "%lldh%02lldm", m / 60, m % 60);
  }
  return text;
}

}  // namespace vitals
