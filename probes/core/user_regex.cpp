#include "user_regex.hpp"

#include "valid_text.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <vector>

namespace vitals {

namespace {

// RE2's Unicode tables are newer than Go 1.19's (Unicode 13, what
// Debian 12's Prometheus is built with): these scripts came with Unicode
// 14 and 15, and Prometheus refuses them as unknown classes.
constexpr std::array<std::string_view, 7> newer_scripts = {"Cypro_Minoan", "Old_Uyghur", "Tangsa", "Toto",
                                                           "Vithkuqi",     "Kawi",       "Nag_Mundari"};

// Go's parse tree under "^(?:…)$" is two levels more than the capturing
// groups around a leaf, and it refuses a tree higher than 1000.
constexpr int max_capture_depth = 998;

bool is_go_capture_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

// The class name of the \p or \P escape at `at`, without a leading ^.
std::string_view class_name(std::string_view p, std::size_t at) {
  if (at + 2 >= p.size()) return {};
  if (p[at + 2] != '{') return p.substr(at + 2, 1);
  const auto close = p.find('}', at + 3);
  auto name = p.substr(at + 3, close == std::string_view::npos ? std::string_view::npos : close - at - 3);
  if (name.starts_with('^')) name.remove_prefix(1);
  return name;
}

// Copies the pattern for RE2 while reading it as Go does; one reason or
// nothing. What both refuse is left for RE2 to say.
class go_reading {
public:
  explicit go_reading(std::string_view p) : p_(p) { out_.reserve(p.size()); }

  std::optional<std::string> run() {
    while (i_ < p_.size()) {
      auto problem = p_[i_] == '\\' && i_ + 1 < p_.size() ? escape() : in_class_ ? class_char() : plain();
      if (problem) return problem;
    }
    if (deepest_ > max_capture_depth)
      return "capturing groups nested " + std::to_string(deepest_) + " deep: Prometheus refuses more than " +
             std::to_string(max_capture_depth);
    return std::nullopt;
  }

  std::string& pattern() { return out_; }

private:
  void copy(std::size_t n) {
    out_.append(p_.substr(i_, n));
    i_ += n;
  }

  std::optional<std::string> escape() {
    const char e = p_[i_ + 1];
    if (e == 'Q' && !in_class_) {
      const auto end = p_.find("\\E", i_ + 2);
      if (end == std::string_view::npos)
        return std::string("\\Q without \\E: Prometheus puts the pattern in (?:…), and the quote would take the ) too");
      copy(end + 2 - i_);
      return std::nullopt;
    }
    if (e == 'C' && !in_class_) return std::string("\\C (any byte) is not in Prometheus's regular expressions");
    if (e == 'p' || e == 'P') {
      const auto name = class_name(p_, i_);
      if (std::find(newer_scripts.begin(), newer_scripts.end(), name) != newer_scripts.end())
        return "\\" + std::string(1, e) + "{" + printable(name) +
               "}: Prometheus knows the Unicode scripts up to Unicode 13, and this one came later";
    }
    copy(2);
    return std::nullopt;
  }

  std::optional<std::string> class_char() {
    if (p_.substr(i_, 2) == "[:") {
      if (const auto end = p_.find(":]", i_ + 2); end != std::string_view::npos) {
        copy(end + 2 - i_);  // [:alpha:] inside a class: its ] does not close it
        return std::nullopt;
      }
    }
    if (p_[i_] == ']') in_class_ = false;
    copy(1);
    return std::nullopt;
  }

  std::optional<std::string> plain() {
    const char c = p_[i_];
    if (c == '[') {
      in_class_ = true;
      copy(1);
      if (i_ < p_.size() && p_[i_] == '^') copy(1);
      if (i_ < p_.size() && p_[i_] == ']') copy(1);  // a ] first is a literal
    } else if (c == '(' && p_.substr(i_, 4) == "(?P<" && p_.find('>', i_) != std::string_view::npos) {
      const auto close = p_.find('>', i_);
      const auto name = p_.substr(i_ + 4, close - i_ - 4);
      if (!is_go_capture_name(name))
        return "invalid group name \"" + printable(name) + "\": Prometheus allows only letters, digits and _";
      out_ += '(';  // the name goes: Go allows one twice, RE2 does not, and neither matches by it
      i_ = close + 1;
      open(true);
    } else if (c == '(') {
      open(p_.substr(i_, 2) != "(?");
      copy(1);
    } else {
      if (c == ')' && !groups_.empty()) {
        depth_ -= groups_.back() ? 1 : 0;
        groups_.pop_back();
      }
      copy(1);
    }
    return std::nullopt;
  }

  void open(bool capturing) {
    groups_.push_back(capturing);
    depth_ += capturing ? 1 : 0;
    deepest_ = std::max(deepest_, depth_);
  }

  std::string_view p_;
  std::size_t i_ = 0;
  std::string out_;
  bool in_class_ = false;
  std::vector<bool> groups_;  // the open groups, true where capturing
  int depth_ = 0;             // capturing groups open now
  int deepest_ = 0;
};

}  // namespace

std::optional<std::string> go_dialect_problem(std::string_view pattern, std::string& for_re2) {
  go_reading reading(pattern);
  auto problem = reading.run();
  if (!problem) for_re2 = std::move(reading.pattern());
  return problem;
}

std::optional<user_regex> user_regex::compile(std::string_view pattern, anchoring how, std::string& error) {
  if (pattern.size() > max_pattern_bytes) {
    error = "longer than " + std::to_string(max_pattern_bytes) + " bytes";
    return std::nullopt;
  }
  std::string compiled(pattern);
  if (how == anchoring::whole) {
    if (auto problem = go_dialect_problem(pattern, compiled)) {
      error = std::move(*problem);
      return std::nullopt;
    }
  }
  RE2::Options options;
  options.set_log_errors(false);
  // Bounds what one pattern may cost; RE2 fails the compile beyond it. Go
  // compiles a Unicode class as one instruction and RE2 byte by byte, so a
  // class such as \pL repeated hundreds of times fits in Prometheus and not
  // here (1000 times would take seconds and 150 MB to compile).
  options.set_max_mem(8 << 20);
  auto re = std::make_shared<const RE2>(re2::StringPiece(compiled.data(), compiled.size()), options);
  if (!re->ok()) {
    error = re->error();
    if (re->error_code() == RE2::ErrorPatternTooLarge) error += " (more than 8 MiB once compiled)";
    return std::nullopt;
  }
  return user_regex(std::move(re), std::string(pattern), how);
}

bool user_regex::matches(std::string_view text) const {
  const re2::StringPiece input(text.data(), text.size());
  return how_ == anchoring::whole ? RE2::FullMatch(input, *re_) : RE2::PartialMatch(input, *re_);
}

}  // namespace vitals
