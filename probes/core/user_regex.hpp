#pragma once

// A regular expression written by a user and run on text from a target
// (HTTP bodies, WebSocket answers, command lines, label values). RE2:
// linear time in the input, bounded memory, no recursion per character —
// and the syntax Prometheus's own matchers use. Immutable once compiled;
// safe to share between threads.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace vitals {

class user_regex {
public:
  enum class anchoring {
    search,  // matches anywhere in the text (grep, blackbox_exporter's fail_if_body_matches_regexp)
    whole,   // must match the whole text, `.` matching newlines too (PromQL =~ and !~)
  };

  // The compiled pattern, or nullopt with `error` saying why it is not one
  // (RE2's own words: "missing ): (a(b", "invalid perl operator: (?<").
  static std::optional<user_regex> compile(std::string_view pattern, anchoring how, std::string& error);

  bool matches(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

  // Patterns larger than this are refused before compiling.
  static constexpr std::size_t max_pattern_bytes = 16 * 1024;

private:
  user_regex(std::shared_ptr<const re2::RE2> re, std::string pattern, anchoring how)
      : re_(std::move(re)), pattern_(std::move(pattern)), how_(how) {}

  std::shared_ptr<const re2::RE2> re_;
  std::string pattern_;
  anchoring how_;
};

}  // namespace vitals
