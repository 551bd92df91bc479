#include "probes/core/yaml_unclosed.hpp"

#include <vector>

namespace vitals {

namespace {

// Scans line by line, keeping the open brackets and an open quote, as far
// as the YAML grammar needs for that: a bracket or quote starts something
// only where a node can start (line start, after "- ", ": ", "? ", or
// inside a flow collection after "[", "{" or ",").
class scanner {
public:
  explicit scanner(std::string_view text) : text_(text) {}

  std::optional<yaml_opener> run(std::size_t length) {
    std::size_t line = 0;
    for (std::size_t start = 0; start < length; ++line) {
      auto end = text_.find('\n', start);
      if (end == std::string_view::npos || end > length) end = length;
      scan_line(text_.substr(start, end - start), line);
      start = end + 1;
    }
    if (quote_) return quote_;
    if (!open_.empty()) return open_.back();
    return std::nullopt;
  }

private:
  // Whether s[i] can start a node, `before` being the last character
  // before it on the line that was not a space (0: none).
  bool starts_node(std::string_view s, std::size_t i, char before) const {
    if (before == 0) return true;
    const bool spaced = i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t');
    if ((before == '-' || before == ':' || before == '?') && spaced) return true;
    return !open_.empty() && (before == ',' || before == '[' || before == '{' || before == ':');
  }

  void scan_line(std::string_view s, std::size_t line) {
    std::size_t i = 0;
    while (i < s.size() && s[i] == ' ') ++i;
    if (block_indent_) {
      if (i == s.size() || i > *block_indent_) return;  // inside a "|" or ">" scalar
      block_indent_.reset();
    }
    const std::size_t indent = i;
    char before = 0;  // the last character that was not a space, on this line
    if (quote_) {
      // A quoted scalar that goes on from the line before: skip to its end.
      i = close_quote(s, 0);
      if (i >= s.size()) return;
      ++i;
      before = 'x';
    }
    for (; i < s.size(); ++i) {
      const char c = s[i];
      if (c == ' ' || c == '\t') continue;
      if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) return;
      const bool node_start = starts_node(s, i, before);
      if ((c == '"' || c == '\'') && node_start) {
        quote_ = yaml_opener{c, line, i};
        i = close_quote(s, i + 1);
        before = 'x';
        if (i >= s.size()) return;
        continue;
      }
      if ((c == '[' || c == '{') && node_start) {
        open_.push_back({c, line, i});
      } else if ((c == ']' || c == '}') && !open_.empty()) {
        open_.pop_back();
      } else if ((c == '|' || c == '>') && node_start && open_.empty() && only_indicators(s.substr(i + 1))) {
        block_indent_ = indent;
        return;
      }
      before = c;
    }
  }

  // From `i`, inside quote_: the index just past the closing quote (and
  // quote_ reset), or s.size() when the quote goes on to the next line.
  std::size_t close_quote(std::string_view s, std::size_t i) {
    const char q = quote_->what;
    for (; i < s.size(); ++i) {
      if (q == '"' && s[i] == '\\') {
        ++i;
      } else if (s[i] == q) {
        if (q == '\'' && i + 1 < s.size() && s[i + 1] == '\'') {
          ++i;  // '' is a quote inside a single-quoted scalar
          continue;
        }
        quote_.reset();
        return i;
      }
    }
    return s.size();
  }

  // The rest of a "|" or ">" line: chomping and indentation indicators, then
  // maybe a comment.
  static bool only_indicators(std::string_view rest) {
    for (std::size_t i = 0; i < rest.size(); ++i) {
      const char c = rest[i];
      if (c == '#' && i > 0 && rest[i - 1] == ' ') return true;
      if (c != '+' && c != '-' && c != ' ' && !(c >= '1' && c <= '9')) return false;
    }
    return true;
  }

  std::string_view text_;
  std::vector<yaml_opener> open_;
  std::optional<yaml_opener> quote_;
  std::optional<std::size_t> block_indent_;
};

}  // namespace

std::optional<yaml_opener> unclosed_yaml_opener(std::string_view text, std::size_t length) {
  if (length > text.size()) length = text.size();
  return scanner(text).run(length);
}

}  // namespace vitals
