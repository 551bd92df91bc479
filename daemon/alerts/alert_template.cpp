#include "daemon/alerts/alert_template.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

namespace vitals::alerts {

namespace {

std::string g4(double v, const char* suffix = "") {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g%s", v, suffix);
  return buf;
}

std::string humanize(double v) {
  if (v == 0 || std::isnan(v) || std::isinf(v)) return g4(v);
  static constexpr const char* big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
  static constexpr const char* small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
  const char* prefix = "";
  if (std::fabs(v) >= 1) {
    for (const char* p : big) {
      if (std::fabs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
  } else {
    for (const char* p : small) {
      if (std::fabs(v) >= 1) break;
      prefix = p;
      v *= 1000;
    }
  }
  return g4(v, prefix);
}

std::string humanize1024(double v) {
  if (std::fabs(v) <= 1 || std::isnan(v) || std::isinf(v)) return g4(v);
  static constexpr const char* prefixes[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
  const char* prefix = "";
  for (const char* p : prefixes) {
    if (std::fabs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return g4(v, prefix);
}

std::string humanize_duration(double v) {
  if (std::isnan(v) || std::isinf(v)) return g4(v);
  if (v == 0) return "0s";
  const char* sign = v < 0 ? "-" : "";
  v = std::fabs(v);
  // Past what a long long holds (~292 billion years) the split below would
  // overflow: such a value is shown in seconds.
  if (v >= 9.2e18) return sign + g4(v, "s");
  if (v >= 1) {
    const auto total = static_cast<long long>(v);
    const long long seconds = total % 60, minutes = (total / 60) % 60, hours = (total / 3600) % 24,
                    days = total / 86400;
    char buf[96];
    if (days != 0)
      std::snprintf(buf, sizeof buf, "%s%lldd %lldh %lldm %llds", sign, days, hours, minutes, seconds);
    else if (hours != 0)
      std::snprintf(buf, sizeof buf, "%s%lldh %lldm %llds", sign, hours, minutes, seconds);
    else if (minutes != 0)
      std::snprintf(buf, sizeof buf, "%s%lldm %llds", sign, minutes, seconds);
    else
      std::snprintf(buf, sizeof buf, "%s%.4gs", sign, v);
    return buf;
  }
  static constexpr const char* units[] = {"ms", "us", "ns", "ps", "fs", "as", "zs", "ys"};
  const char* unit = "";
  for (const char* u : units) {
    if (v >= 1) break;
    unit = u;
    v *= 1000;
  }
  return std::string(sign) + g4(v, unit);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// One {{ … }} action: its text, or nullopt when outside the subset.
std::optional<std::string> action(std::string_view inside, const labels& l, double value) {
  std::string_view subject = trim(inside);
  std::string_view function;
  if (const auto bar = subject.find('|'); bar != std::string_view::npos) {
    function = trim(subject.substr(bar + 1));
    subject = trim(subject.substr(0, bar));
  }
  if (subject.rfind("$labels.", 0) == 0) {
    if (!function.empty()) return std::nullopt;
    const auto it = l.find(std::string(subject.substr(8)));
    return it == l.end() ? std::string() : it->second;
  }
  if (subject != "$value") return std::nullopt;
  if (function.empty()) return number_text(value);
  if (function == "humanize") return humanize(value);
  if (function == "humanize1024") return humanize1024(value);
  if (function == "humanizePercentage") return g4(value * 100, "%");
  if (function == "humanizeDuration") return humanize_duration(value);
  return std::nullopt;
}

}  // namespace

std::string render_template(std::string_view text, const labels& l, double value) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find("{{", i);
    if (open == std::string_view::npos) break;
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(text.substr(i, open - i));
    if (auto v = action(text.substr(open + 2, close - open - 2), l, value))
      out += *v;
    else
      out.append(text.substr(open, close + 2 - open));
    i = close + 2;
  }
  out.append(text.substr(std::min(i, text.size())));
  return out;
}

std::optional<std::string> template_problem(std::string_view text) {
  std::size_t i = 0;
  while (true) {
    const auto open = text.find("{{", i);
    if (open == std::string_view::npos) return std::nullopt;
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) return "\"{{\" is not closed by \"}}\"";
    const auto inside = text.substr(open + 2, close - open - 2);
    if (!action(inside, {}, 0))
      return "{{" + std::string(inside) +
             "}} is not supported: use $labels.<name>, $value, or $value | humanize, humanize1024, "
             "humanizePercentage, humanizeDuration";
    i = close + 2;
  }
}

}  // namespace vitals::alerts
