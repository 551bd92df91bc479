#include "probes/core/node_reader.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>

namespace vitals {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A value as it appears in a message: quoted, control characters escaped so
// one error stays one line.
std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a single value";
    default: return "nothing";
  }
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// Optimal string alignment distance: Levenshtein plus swapping two adjacent
// letters as one edit, the most common typo ("prot" for "port").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

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

bool is_plain_number(std::string_view text) {
  if (text.empty()) return false;
  if (text.front() == '-' || text.front() == '+') text.remove_prefix(1);
  auto d = take_decimal(text);
  return d && text.empty();
}

// ${env:NAME} / ${file:/path} expansion of one scalar. Returns the new text,
// or nullopt after reporting every problem in it.
struct expansion {
  std::string text;
  bool substituted = false;  // something came from outside: a secret
};

std::optional<expansion> expand(const std::string& text, const YAML::Mark& mark, const std::string& path,
                                diagnostics& diags) {
  expansion out;
  bool failed = false;
  std::size_t i = 0;
  while (i < text.size()) {
    // "$${" is a literal "${", for the rare value that needs one.
    if (text.compare(i, 3, "$${") == 0) {
      out.text += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out.text += text[i++];
      continue;
    }
    std::size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      diags.add(mark, path, "unterminated \"${\": write ${env:NAME} or ${file:/path}, or $${ for a literal \"${\"");
      return std::nullopt;
    }
    std::string reference = text.substr(i + 2, close - i - 2);
    i = close + 1;
    if (reference.starts_with("env:") && reference.size() > 4) {
      std::string name = reference.substr(4);
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) {
        diags.add(mark, path, "environment variable " + name + " is not set (from ${env:" + name + "})");
        failed = true;
        continue;
      }
      out.text += value;
      out.substituted = true;
    } else if (reference.starts_with("file:") && reference.size() > 5) {
      std::string file = reference.substr(5);
      std::string content;
      if (int err = read_text_file(file, content); err != 0) {
        diags.add(mark, path, "cannot read secret file " + file + ": " + std::strerror(err));
        failed = true;
        continue;
      }
      // Files written by `echo` or an editor end in a newline that is not
      // part of the password.
      if (content.ends_with('\n')) content.pop_back();
      if (content.ends_with('\r')) content.pop_back();
      out.text += content;
      out.substituted = true;
    } else {
      diags.add(mark, path,
                "unknown reference " + quote("${" + reference + "}") +
                    ": write ${env:NAME} or ${file:/path}, or $${ for a literal \"${\"");
      failed = true;
    }
  }
  if (failed) return std::nullopt;
  return out;
}

using mark_set = std::set<std::pair<int, int>>;

void substitute_in(YAML::Node node, const std::string& path, diagnostics& diags, mark_set& seen) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      // An alias shares its node with the anchor: expand it only once, or
      // a substituted value containing "${" would be expanded again.
      if (!seen.insert({node.Mark().line, node.Mark().column}).second) return;
      if (node.Scalar().find('$') == std::string::npos) return;
      auto result = expand(node.Scalar(), node.Mark(), path, diags);
      if (!result) return;
      YAML::Mark mark = node.Mark();
      // Assigning a string keeps the node's mark (yaml-cpp only replaces
      // the scalar text), so errors still point at the original position.
      node = result->text;
      if (result->substituted) diags.mark_secret(mark);
      return;
    }
    case YAML::NodeType::Sequence: {
      std::size_t index = 0;
      for (auto item : node) substitute_in(item, path + "[" + std::to_string(index++) + "]", diags, seen);
      return;
    }
    case YAML::NodeType::Map: {
      for (auto pair : node) {
        std::string key = pair.first.IsScalar() ? pair.first.Scalar() : "?";
        substitute_in(pair.second, path.empty() ? key : path + "." + key, diags, seen);
      }
      return;
    }
    default: return;
  }
}

}  // namespace

std::string config_error::str() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

void diagnostics::add(const YAML::Mark& mark, std::string path, std::string message) {
  config_error e;
  e.file = file_;
  // yaml-cpp counts from 0; editors and compilers count from 1. A null
  // mark (-1) stays 0: "no position".
  e.line = mark.line >= 0 ? mark.line + 1 : 0;
  e.column = mark.column >= 0 ? mark.column + 1 : 0;
  e.path = std::move(path);
  e.message = std::move(message);
  for (const auto& existing : errors_) {
    if (existing.line == e.line && existing.column == e.column && existing.path == e.path) return;
  }
  errors_.push_back(std::move(e));
}

void substitute_secrets(YAML::Node root, diagnostics& diags) {
  mark_set seen;
  substitute_in(root, "", diags, seen);
}

int read_text_file(const std::string& path, std::string& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return errno;
  out.clear();
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  // A directory opens fine and fails on read (EISDIR).
  int err = std::ferror(f) ? (errno != 0 ? errno : EIO) : 0;
  std::fclose(f);
  return err;
}

node_reader::node_reader(YAML::Node node, std::string path, diagnostics& diags)
    : node_(std::move(node)),
      path_(std::move(path)),
      diags_(&diags),
      known_(std::make_shared<std::set<std::string, std::less<>>>()) {}

std::optional<std::pair<YAML::Node, YAML::Node>> node_reader::find(std::string_view key) const {
  // Iterate instead of operator[]: a non-const lookup of a missing key would
  // insert it, and this also finds the first of repeated keys.
  if (!node_.IsMap()) return std::nullopt;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return std::make_pair(it->first, it->second);
  }
  return std::nullopt;
}

YAML::Node node_reader::value(std::string_view key) {
  known_->emplace(key);
  if (auto pair = find(key)) return pair->second;
  return YAML::Node();  // null: "not set"
}

YAML::Mark node_reader::mark_of(std::string_view key) const {
  auto pair = find(key);
  if (!pair) return node_.Mark();
  // A null value's mark is wherever the parser noticed it was empty, often
  // the next line: point at the key instead.
  if (pair->second.IsNull()) return pair->first.Mark();
  return pair->second.Mark();
}

bool node_reader::has(std::string_view key) { return !value(key).IsNull(); }

bool node_reader::require(std::string_view key) {
  if (has(key)) return true;
  error(key, "missing required key");
  return false;
}

std::string node_reader::key_path(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return path_ + "." + std::string(key);
}

std::optional<std::string> node_reader::string(std::string_view key) {
  YAML::Node v = value(key);
  if (v.IsNull()) return std::nullopt;
  if (!v.IsScalar()) {
    error(key, "expected a single value, got " + describe(v));
    return std::nullopt;
  }
  return v.Scalar();
}

std::optional<bool> node_reader::boolean(std::string_view key) {
  auto text = string(key);
  if (!text) return std::nullopt;
  std::string word = lower(*text);
  if (word == "true" || word == "yes" || word == "on") return true;
  if (word == "false" || word == "no" || word == "off") return false;
  error(key, "expected true or false, got " + shown(key));
  return std::nullopt;
}

std::optional<std::int64_t> node_reader::integer(std::string_view key, std::int64_t min, std::int64_t max) {
  auto text = string(key);
  if (!text) return std::nullopt;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc{} || end != text->data() + text->size()) {
    error(key, "expected a whole number, got " + shown(key));
    return std::nullopt;
  }
  if (n < min || n > max) {
    error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + shown(key));
    return std::nullopt;
  }
  return n;
}

std::optional<double> node_reader::number(std::string_view key) {
  auto text = string(key);
  if (!text) return std::nullopt;
  double n = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc{} || end != text->data() + text->size() || !std::isfinite(n)) {
    error(key, "expected a number, got " + shown(key));
    return std::nullopt;
  }
  return n;
}

std::optional<std::chrono::milliseconds> node_reader::duration(std::string_view key) {
  auto text = string(key);
  if (!text) return std::nullopt;
  if (auto d = parse_duration(*text)) return d;
  std::string message = "expected a duration like \"500ms\" or \"15s\", got " + shown(key);
  if (is_plain_number(*text)) message += " (a unit is required: ms, s, m, h or d)";
  error(key, std::move(message));
  return std::nullopt;
}

std::optional<std::uint64_t> node_reader::size(std::string_view key) {
  auto text = string(key);
  if (!text) return std::nullopt;
  if (auto n = parse_size(*text)) return n;
  error(key, "expected a size like \"512\", \"64KiB\" or \"10MB\", got " + shown(key));
  return std::nullopt;
}

std::optional<std::string> node_reader::one_of(std::string_view key, std::initializer_list<std::string_view> choices) {
  auto text = string(key);
  if (!text) return std::nullopt;
  std::vector<std::string> names;
  for (auto c : choices) {
    if (c == *text) return text;
    names.emplace_back(c);
  }
  std::string message = "expected " + join(names, "|") + ", got " + shown(key);
  bool secret = diags_->is_secret(mark_of(key));
  if (auto suggestion = secret ? std::string() : did_you_mean(*text, names); !suggestion.empty())
    message += "; did you mean " + quote(suggestion) + "?";
  error(key, std::move(message));
  return std::nullopt;
}

std::optional<node_reader> node_reader::map(std::string_view key) {
  YAML::Node v = value(key);
  if (v.IsNull()) return std::nullopt;
  if (!v.IsMap()) {
    error(key, "expected a mapping (key: value lines), got " + describe(v));
    return std::nullopt;
  }
  return node_reader(v, key_path(key), *diags_);
}

std::optional<std::vector<node_reader>> node_reader::sequence(std::string_view key) {
  YAML::Node v = value(key);
  if (v.IsNull()) return std::nullopt;
  if (!v.IsSequence()) {
    error(key, "expected a list (lines starting with \"- \"), got " + describe(v));
    return std::nullopt;
  }
  std::vector<node_reader> items;
  std::string base = key_path(key);
  std::size_t index = 0;
  for (auto item : v) items.emplace_back(item, base + "[" + std::to_string(index++) + "]", *diags_);
  return items;
}

void node_reader::error(std::string_view key, std::string message) {
  diags_->add(mark_of(key), key_path(key), std::move(message));
}

void node_reader::error_here(std::string message) { diags_->add(node_.Mark(), path_, std::move(message)); }

std::string node_reader::shown(std::string_view key) const {
  auto pair = find(key);
  if (!pair || pair->second.IsNull()) return "nothing";
  const YAML::Node& v = pair->second;
  if (!v.IsScalar()) return describe(v);
  if (diags_->is_secret(v.Mark())) return "<redacted>";
  return quote(v.Scalar());
}

void node_reader::known(std::initializer_list<std::string_view> keys) {
  for (auto k : keys) known_->emplace(k);
}

void node_reader::finish() {
  if (!node_.IsMap()) return;
  std::vector<std::string> candidates(known_->begin(), known_->end());
  std::map<std::string, int> first_line;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    YAML::Node key = it->first;  // a copy: `it->` yields a temporary
    if (!key.IsScalar()) {
      diags_->add(key.Mark(), path_, "keys must be plain names, got " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    auto [first, inserted] = first_line.emplace(name, key.Mark().line + 1);
    if (!inserted) {
      diags_->add(key.Mark(), key_path(name), "duplicate key (first at line " + std::to_string(first->second) + ")");
      continue;
    }
    if (known_->contains(name)) continue;
    std::string message = "unknown key";
    if (auto suggestion = did_you_mean(name, candidates); !suggestion.empty())
      message += "; did you mean " + quote(suggestion) + "?";
    else if (!candidates.empty())
      message += " (known: " + join(candidates, ", ") + ")";
    diags_->add(key.Mark(), key_path(name), std::move(message));
  }
}

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

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.empty()) return {};
  std::string needle = lower(word);
  std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    std::size_t distance = edit_distance(needle, lower(candidate));
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace vitals
