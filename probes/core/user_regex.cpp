#include "user_regex.hpp"

#include <re2/re2.h>

namespace vitals {

std::optional<user_regex> user_regex::compile(std::string_view pattern, anchoring how, std::string& error) {
  if (pattern.size() > max_pattern_bytes) {
    error = "longer than " + std::to_string(max_pattern_bytes) + " bytes";
    return std::nullopt;
  }
  RE2::Options options;
  options.set_log_errors(false);
  // PromQL anchors its matchers and lets `.` cross newlines (Go's "^(?s:…)$").
  options.set_dot_nl(how == anchoring::whole);
  // Bounds what one pattern may cost; RE2 fails the compile beyond it.
  options.set_max_mem(8 << 20);
  auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) {
    error = re->error();
    return std::nullopt;
  }
  return user_regex(std::move(re), std::string(pattern), how);
}

bool user_regex::matches(std::string_view text) const {
  const re2::StringPiece input(text.data(), text.size());
  return how_ == anchoring::whole ? RE2::FullMatch(input, *re_) : RE2::PartialMatch(input, *re_);
}

}  // namespace vitals
