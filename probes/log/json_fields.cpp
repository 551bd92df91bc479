#include "probes/log/json_fields.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>
#include <utility>

namespace vitals {

namespace {

namespace json = boost::json;

constexpr std::size_t max_path_steps = 16;

// A number written as text ("500", "2.5"), for a field a logger stored as
// a string; nullopt unless the whole text is one.
std::optional<double> number_in(std::string_view text) {
  double n = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(n)) return std::nullopt;
  return n;
}

std::optional<double> number_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64:
      return static_cast<double>(v.get_int64());
    case json::kind::uint64:
      return static_cast<double>(v.get_uint64());
    case json::kind::double_:
      return v.get_double();
    case json::kind::string:
      return number_in(v.get_string());
    default:
      return std::nullopt;
  }
}

// Equality with a configured text: strings by their text, numbers by
// value (50 equals "50" and "50.0"), booleans and null by their JSON words.
bool equals(const json::value& v, const std::string& text) {
  switch (v.kind()) {
    case json::kind::string:
      return v.get_string() == text;
    case json::kind::bool_:
      return text == (v.get_bool() ? "true" : "false");
    case json::kind::null:
      return text == "null";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: {
      const auto n = number_in(text);
      return n && *number_of(v) == *n;
    }
    default:
      return false;
  }
}

// The value at steps[from...] under `object`: the longest key made of the
// next steps that the object holds wins, then the rest is looked up below it.
const json::value* find_from(const json::object& object, const std::vector<std::string>& steps, std::size_t from) {
  std::string key;
  std::vector<std::size_t> ends;  // key lengths after each step
  for (std::size_t i = from; i < steps.size(); ++i) {
    if (i > from) key += '.';
    key += steps[i];
    ends.push_back(key.size());
  }
  // No backtracking to a shorter key: a line built to hold every prefix
  // costs steps² lookups, not 2^steps.
  for (std::size_t n = ends.size(); n-- > 0;) {
    const auto* found = object.if_contains(std::string_view(key).substr(0, ends[n]));
    if (found == nullptr) continue;
    const std::size_t next = from + n + 1;
    if (next == steps.size()) return found;
    return found->is_object() ? find_from(found->get_object(), steps, next) : nullptr;
  }
  return nullptr;
}

}  // namespace

std::optional<json_field_path> parse_field_path(std::string_view text) {
  json_field_path path;
  path.text = std::string(text);
  std::size_t at = 0;
  while (true) {
    const auto dot = text.find('.', at);
    const auto step = text.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at);
    if (step.empty() || path.steps.size() == max_path_steps) return std::nullopt;
    path.steps.emplace_back(step);
    if (dot == std::string_view::npos) break;
    at = dot + 1;
  }
  return path;
}

const boost::json::value* find_field(const boost::json::object& root, const json_field_path& path) {
  if (path.steps.empty()) return nullptr;
  // The common case, one plain key, without building a joined key.
  if (path.steps.size() == 1) return root.if_contains(path.steps.front());
  return find_from(root, path.steps, 0);
}

std::string field_text(const boost::json::value& v, std::size_t max) {
  std::string text = v.is_string() ? std::string(v.get_string()) : json::serialize(v);
  if (text.size() > max) text.resize(max);
  return text;
}

bool json_condition::holds(const boost::json::object& line) const {
  const auto* v = find_field(line, field);
  if (how == op::exists) return (v != nullptr) == present;
  if (v == nullptr) return false;
  switch (how) {
    case op::eq:
    case op::ne: {
      bool any = false;
      for (const auto& text : values) any = any || equals(*v, text);
      return how == op::eq ? any : !any;
    }
    default:
      break;
  }
  const auto n = number_of(*v);
  if (!n) return false;
  switch (how) {
    case op::gt:
      return *n > number;
    case op::gte:
      return *n >= number;
    case op::lt:
      return *n < number;
    default:
      return *n <= number;
  }
}

std::optional<json_condition::op> parse_condition_op(std::string_view name) {
  using op = json_condition::op;
  static constexpr std::pair<std::string_view, op> ops[] = {{"eq", op::eq},        {"ne", op::ne}, {"gt", op::gt},
                                                            {"gte", op::gte},      {"lt", op::lt}, {"lte", op::lte},
                                                            {"exists", op::exists}};
  for (const auto& [text, o] : ops)
    if (text == name) return o;
  return std::nullopt;
}

namespace {

json::parse_options line_options() {
  json::parse_options o;
  o.max_depth = json_line::max_depth;
  o.allow_invalid_utf8 = true;
  return o;
}

}  // namespace

json_line::json_line() : parser_(json::storage_ptr(), line_options()) {}

const boost::json::object* json_line::parse(std::string_view line) {
  const auto first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos || line[first] != '{') return nullptr;
  value_ = nullptr;  // before the arena lets go of what it held
  parser_.reset();
  arena_.emplace(buffer_, sizeof buffer_);
  parser_.reset(json::storage_ptr(&*arena_));
  boost::system::error_code ec;
  parser_.write(line.data(), line.size(), ec);
  if (ec) return nullptr;
  value_ = parser_.release();
  return value_.is_object() ? &value_.get_object() : nullptr;
}

}  // namespace vitals
