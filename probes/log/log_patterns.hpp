#pragma once

// What a log probe counts: named patterns, each a regular expression on the
// line or conditions on the fields of a JSON line, optionally with a
// `group_by` (a capture group or a field) whose values are tallied. Built
// once from the config, immutable afterwards and shared by the probe's
// settings and its reader; matching is pure and safe from any thread given
// the caller's own json_line.

#include "probes/core/user_regex.hpp"
#include "probes/log/json_fields.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace vitals {

// One pattern as the config writes it.
struct log_pattern_spec {
  std::string name;
  std::string regex;                 // a regex pattern; empty for a JSON one
  std::vector<json_condition> json;  // a JSON pattern: every condition must hold
  std::string group_by;              // a capture group (name or number) or a dotted field; empty: none
};

class log_pattern {
 public:
  // The compiled pattern, or nullopt with `error` saying why it is not one
  // (an invalid regex, a group_by naming no capture group) and `key` the
  // key at fault ("regex", "group_by"; empty for the pattern as a whole).
  // `error` does not quote the regex: the caller shows it.
  static std::optional<log_pattern> compile(log_pattern_spec spec, std::string& error, std::string& key);
  static std::optional<log_pattern> compile(log_pattern_spec spec, std::string& error) {
    std::string key;
    return compile(std::move(spec), error, key);
  }

  const std::string& name() const { return spec_.name; }
  const std::string& group_by() const { return spec_.group_by; }
  bool is_json() const { return !spec_.json.empty(); }

  // Whether `line` (its JSON object, when it is one) matches; for a
  // group_by, `group` receives the value (at most max_group_bytes; empty
  // when the group did not take part or the field is absent).
  bool matches(std::string_view line, const boost::json::object* object, std::string& group) const;

  static constexpr std::size_t max_group_bytes = 128;
  static constexpr int max_group_number = 31;  // group_by may name the first 31 capture groups

 private:
  explicit log_pattern(log_pattern_spec spec) : spec_(std::move(spec)) {}

  log_pattern_spec spec_;
  std::optional<user_regex> regex_;         // a regex pattern without group_by
  std::shared_ptr<const re2::RE2> groups_;  // a regex pattern with group_by: also captures
  int group_index_ = 0;                     // which capture group group_by names
  std::optional<json_field_path> group_field_;
};

// Every pattern of one probe, in config order.
class log_pattern_set {
 public:
  explicit log_pattern_set(std::vector<log_pattern> patterns);

  std::size_t size() const { return patterns_.size(); }
  const log_pattern& operator[](std::size_t i) const { return patterns_[i]; }
  bool any_json() const { return any_json_; }

  // Calls on_match(index, group) for each pattern `line` matches. The line
  // is parsed as JSON (once, with `json`) only when a pattern needs it.
  template <class OnMatch>
  void match(std::string_view line, json_line& json, std::string& group, OnMatch&& on_match) const {
    const boost::json::object* object = any_json_ ? json.parse(line) : nullptr;
    for (std::size_t i = 0; i < patterns_.size(); ++i)
      if (patterns_[i].matches(line, object, group)) on_match(i, std::string_view(group));
  }

 private:
  std::vector<log_pattern> patterns_;
  bool any_json_ = false;
};

}  // namespace vitals
