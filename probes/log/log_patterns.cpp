#include "probes/log/log_patterns.hpp"

#include "probes/core/valid_text.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>

namespace vitals {

namespace {

// The same bounds user_regex compiles with: one pattern costs at most 8 MiB.
std::shared_ptr<const re2::RE2> compile_with_groups(const std::string& pattern, std::string& error) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(8 << 20);
  auto re = std::make_shared<const re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) {
    error = re->error();
    return nullptr;
  }
  return re;
}

// The capture group `name` stands for: a number, or a (?P<name>…) group.
int group_number(const re2::RE2& re, const std::string& name, std::string& error) {
  int number = 0;
  const auto [end, problem] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (problem == std::errc() && end == name.data() + name.size()) {
    if (number >= 1 && number <= re.NumberOfCapturingGroups() && number <= log_pattern::max_group_number) return number;
    error = "the regex has " + std::to_string(re.NumberOfCapturingGroups()) + " capture group" +
            (re.NumberOfCapturingGroups() == 1 ? "" : "s") + ", not " + name;
    return 0;
  }
  const auto& named = re.NamedCapturingGroups();
  if (const auto it = named.find(name); it != named.end()) {
    if (it->second <= log_pattern::max_group_number) return it->second;
    error = printable(name) + " is capture group " + std::to_string(it->second) + "; only the first " +
            std::to_string(log_pattern::max_group_number) + " can be tallied";
    return 0;
  }
  error = "\"" + printable(name) + "\" names no capture group of the regex; write (?P<" + printable(name) +
          ">…) or a group number";
  return 0;
}

}  // namespace

std::optional<log_pattern> log_pattern::compile(log_pattern_spec spec, std::string& error, std::string& key) {
  log_pattern p(std::move(spec));
  key.clear();
  const auto& s = p.spec_;
  if (!s.regex.empty() && !s.json.empty()) {
    error = "set either regex or json, not both";
    return std::nullopt;
  }
  if (s.regex.empty() && s.json.empty()) {
    error = "needs a regex or json conditions";
    return std::nullopt;
  }
  if (!s.json.empty()) {
    if (!s.group_by.empty()) {
      p.group_field_ = parse_field_path(s.group_by);
      if (!p.group_field_) {
        key = "group_by";
        error = "\"" + printable(s.group_by) + "\" is not a field path like err.code";
        return std::nullopt;
      }
    }
    return p;
  }
  // Checked by the project's regex wrapper first, so its limits and words apply.
  key = "regex";
  p.regex_ = user_regex::compile(s.regex, user_regex::anchoring::search, error);
  if (!p.regex_) return std::nullopt;
  if (s.group_by.empty()) return p;
  p.groups_ = compile_with_groups(s.regex, error);
  if (!p.groups_) return std::nullopt;
  key = "group_by";
  p.group_index_ = group_number(*p.groups_, s.group_by, error);
  if (p.group_index_ == 0) return std::nullopt;
  key.clear();
  p.regex_.reset();  // the capturing one decides alone: one pass per line
  return p;
}

bool log_pattern::matches(std::string_view line, const boost::json::object* object, std::string& group) const {
  group.clear();
  if (is_json()) {
    if (object == nullptr) return false;
    for (const auto& c : spec_.json)
      if (!c.holds(*object)) return false;
    if (group_field_)
      if (const auto* v = find_field(*object, *group_field_)) group = field_text(*v, max_group_bytes);
    return true;
  }
  if (regex_) return regex_->matches(line);
  // Room for every group up to the one wanted; only that one is kept.
  re2::StringPiece captured[max_group_number + 1];
  const re2::StringPiece input(line.data(), line.size());
  if (!groups_->Match(input, 0, input.size(), RE2::UNANCHORED, captured, group_index_ + 1)) return false;
  const auto& value = captured[group_index_];
  if (!value.empty()) group.assign(value.data(), std::min<std::size_t>(value.size(), max_group_bytes));
  return true;
}

log_pattern_set::log_pattern_set(std::vector<log_pattern> patterns) : patterns_(std::move(patterns)) {
  for (const auto& p : patterns_) any_json_ = any_json_ || p.is_json();
}

}  // namespace vitals
