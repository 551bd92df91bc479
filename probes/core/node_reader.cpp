#include "probes/core/node_reader.hpp"
#include "probes/core/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <map>

namespace vitals {

namespace {

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a single value";
    default: return "nothing";
  }
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <class Items>
std::string join(const Items& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

}  // namespace

std::string absolute_path::operator()(const std::string& path, const std::string& shown) const {
  if (!path.empty() && path.front() == '/') return {};
  std::string message = shown + " is not an absolute path";
  if (!why.empty()) message += " (" + std::string(why) + ")";
  return message;
}

node_reader::node_reader(YAML::Node node, std::string path, diagnostics& diags)
    : node_reader(std::move(node), std::move(path), diags, nullptr) {}

node_reader::node_reader(YAML::Node node, std::string path, diagnostics& diags,
                         std::shared_ptr<failure_record> parent)
    : node_(std::move(node)),
      path_(std::move(path)),
      diags_(&diags),
      known_(std::make_shared<std::set<std::string, std::less<>>>()),
      failure_(std::make_shared<failure_record>(failure_record{false, std::move(parent)})) {}

void node_reader::mark_failed() {
  // Stops at the first record already failed: its ancestors are too.
  for (failure_record* f = failure_.get(); f != nullptr && !f->failed; f = f->parent.get()) f->failed = true;
}

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

bool node_reader::read(std::string_view key, std::string& out, std::initializer_list<std::string_view> choices) {
  auto chosen = one_of(key, choices);
  if (!chosen) return false;
  out = std::move(*chosen);
  return true;
}

bool node_reader::read_required(std::string_view key, std::string& out,
                                std::initializer_list<std::string_view> choices) {
  return require(key) && read(key, out, choices);
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

std::optional<std::size_t> node_reader::choose(std::string_view key, std::span<const std::string_view> names) {
  auto text = string(key);
  if (!text) return std::nullopt;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == *text) return i;
  }
  std::string message = "expected " + join(names, "|") + ", got " + shown(key);
  const std::vector<std::string> candidates(names.begin(), names.end());
  if (auto suggestion = is_secret(key) ? std::string() : did_you_mean(*text, candidates); !suggestion.empty())
    message += "; did you mean " + quoted(suggestion) + "?";
  error(key, std::move(message));
  return std::nullopt;
}

std::optional<std::string> node_reader::one_of(std::string_view key, std::initializer_list<std::string_view> choices) {
  const auto index = choose(key, std::span<const std::string_view>(choices.begin(), choices.size()));
  if (!index) return std::nullopt;
  return std::string(*(choices.begin() + *index));
}

std::optional<node_reader> node_reader::map(std::string_view key) {
  YAML::Node v = value(key);
  if (v.IsNull()) return std::nullopt;
  if (!v.IsMap()) {
    error(key, "expected a mapping (key: value lines), got " + describe(v));
    return std::nullopt;
  }
  return node_reader(v, key_path(key), *diags_, failure_);
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
  for (auto item : v)
    items.push_back(node_reader(item, base + "[" + std::to_string(index++) + "]", *diags_, failure_));
  return items;
}

node_reader node_reader::nested(std::string_view key) { return node_reader(value(key), key_path(key), *diags_, failure_); }

void node_reader::error(std::string_view key, std::string message) {
  diags_->add(mark_of(key), key_path(key), std::move(message));
  mark_failed();
}

void node_reader::error_here(std::string message) {
  diags_->add(node_.Mark(), path_, std::move(message));
  mark_failed();
}

void node_reader::error_at(const YAML::Mark& mark, std::string_view key, std::string message) {
  diags_->add(mark, key_path(key), std::move(message));
  mark_failed();
}

std::string node_reader::shown(std::string_view key) const {
  auto pair = find(key);
  if (!pair || pair->second.IsNull()) return "nothing";
  return shown_value(pair->second);
}

std::string node_reader::shown_value(const YAML::Node& v) const {
  if (!v.IsScalar()) return describe(v);
  if (diags_->is_secret(v.Mark())) return "<redacted>";
  return quoted(v.Scalar());
}

bool node_reader::is_secret(std::string_view key) const {
  auto pair = find(key);
  return pair && !pair->second.IsNull() && diags_->is_secret(pair->second.Mark());
}

void node_reader::known(std::initializer_list<std::string_view> keys) {
  for (auto k : keys) known_->emplace(k);
}

void node_reader::finish() {
  if (!node_.IsMap()) return;
  std::vector<std::string> candidates(known_->begin(), known_->end());
  std::map<std::string, int> first_line;
  auto report = [&](const YAML::Mark& mark, std::string path, std::string message) {
    diags_->add(mark, std::move(path), std::move(message));
    mark_failed();
  };
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    YAML::Node key = it->first;  // a copy: `it->` yields a temporary
    if (!key.IsScalar()) {
      report(key.Mark(), path_, "keys must be plain names, got " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    auto [first, inserted] = first_line.emplace(name, key.Mark().line + 1);
    if (!inserted) {
      report(key.Mark(), key_path(name), "duplicate key (first at line " + std::to_string(first->second) + ")");
      continue;
    }
    if (known_->contains(name)) continue;
    std::string message = "unknown key";
    if (auto suggestion = did_you_mean(name, candidates); !suggestion.empty())
      message += "; did you mean " + quoted(suggestion) + "?";
    else if (!candidates.empty())
      message += " (known: " + join(candidates, ", ") + ")";
    report(key.Mark(), key_path(name), std::move(message));
  }
}

}  // namespace vitals
