#pragma once

// A regular expression written by a user and run on text from a target
// (HTTP bodies, WebSocket answers, command lines, label values). RE2:
// linear time in the input, bounded memory, no recursion per character.
// Immutable once compiled; safe to share between threads.

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
    // A PromQL =~ / !~ matcher, read and matched as Prometheus 2.42 (Go's
    // regexp, Unicode 13) does: it must match the whole value, `.` does not
    // match a newline unless (?s) says so, and what Go refuses is refused
    // here too, though RE2 knows it (see go_dialect_problem()).
    whole,
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

// Where Go's regexp (Prometheus) and RE2 read the same pattern differently,
// for a PromQL matcher: nullopt and `for_re2` set to what RE2 is to compile
// (the pattern without capture group names, which Go allows twice and RE2
// does not, and which never change what matches), or why Prometheus
// refuses it though RE2 would not: \C, \p{…} of a script newer than
// Unicode 13, a group name other than letters, digits and _, \Q without
// \E (Prometheus wraps the pattern in "^(?:…)$" and the quote swallows
// the end), capturing groups nested 999 deep or more.
std::optional<std::string> go_dialect_problem(std::string_view pattern, std::string& for_re2);

}  // namespace vitals
