#include "probes/redis/info_parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace vitals {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <class T>
std::optional<T> parse_number(std::string_view s) {
  T n{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return n;
}

}  // namespace

const std::string* redis_info::find(std::string_view key) const {
  for (const auto& f : fields)
    if (f.key == key) return &f.value;
  return nullptr;
}

std::optional<double> redis_info::number(std::string_view key) const {
  const auto* v = find(key);
  if (v == nullptr) return std::nullopt;
  auto n = parse_number<double>(*v);
  if (n && !std::isfinite(*n)) return std::nullopt;
  return n;
}

std::optional<std::uint64_t> redis_info::unsigned_number(std::string_view key) const {
  const auto* v = find(key);
  if (v == nullptr) return std::nullopt;
  return parse_number<std::uint64_t>(*v);
}

std::vector<std::pair<std::string, std::string>> parse_info_pairs(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto item = value.substr(0, comma);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos) out.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

redis_info parse_redis_info(std::string_view text) {
  redis_info info;
  std::string section;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const auto line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      section = lower(trim(line.substr(1)));
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    const auto key = line.substr(0, colon);
    const auto value = line.substr(colon + 1);
    info.fields.push_back({section, std::string(key), std::string(value)});

    if (key.size() > 2 && key.substr(0, 2) == "db") {
      if (auto db = parse_number<int>(key.substr(2))) {
        redis_info::keyspace_entry entry{*db, 0, 0};
        for (const auto& [k, v] : parse_info_pairs(value)) {
          if (k == "keys") entry.keys = parse_number<std::uint64_t>(v).value_or(0);
          if (k == "expires") entry.expires = parse_number<std::uint64_t>(v).value_or(0);
        }
        info.keyspace.push_back(entry);
      }
    } else if (constexpr std::string_view prefix = "errorstat_"; key.substr(0, prefix.size()) == prefix) {
      redis_info::error_stat stat{std::string(key.substr(prefix.size())), 0};
      for (const auto& [k, v] : parse_info_pairs(value))
        if (k == "count") stat.count = parse_number<std::uint64_t>(v).value_or(0);
      info.errorstats.push_back(std::move(stat));
    }
  }
  std::stable_sort(info.errorstats.begin(), info.errorstats.end(),
                   [](const auto& a, const auto& b) { return a.count > b.count; });
  return info;
}

}  // namespace vitals
