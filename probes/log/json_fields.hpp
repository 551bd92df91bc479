#pragma once

// Conditions on the fields of JSON log lines (pino, bunyan, structlog,
// Elastic Common Schema): `level: error`, `level: {gte: 50}`,
// `err.code: [ECONNREFUSED, EMFILE]`. Pure: no I/O, safe to share once
// built; a json_line parser belongs to one thread.

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

// A dotted path to a field: "level", "err.code". A key that holds dots
// itself ("log.level" in ECS) is found too: at each object the longest key
// made of the next steps wins.
struct json_field_path {
  std::string text;
  std::vector<std::string> steps;
};

// nullopt for an empty path or an empty step ("a..b", ".a", "a.").
std::optional<json_field_path> parse_field_path(std::string_view text);

// The value at `path` in `root`, or nullptr.
const boost::json::value* find_field(const boost::json::object& root, const json_field_path& path);

// A field's value as text for evidence and group_by: a string as it is,
// a number or a boolean as JSON writes it, anything else as compact JSON,
// cut to `max` bytes.
std::string field_text(const boost::json::value& v, std::size_t max);

// One condition on one field. `eq` with several values means "any of".
struct json_condition {
  enum class op { eq, ne, gt, gte, lt, lte, exists };
  json_field_path field;
  op how = op::eq;
  std::vector<std::string> values;  // eq/ne: the texts to compare with; a YAML null is "null"
  double number = 0;                // gt/gte/lt/lte: the bound
  bool present = true;              // exists: whether the field must be there

  bool holds(const boost::json::object& line) const;
};

// The names `op` is written with in the config, and back.
std::optional<json_condition::op> parse_condition_op(std::string_view name);

// A log line read as a JSON object, with bounds: at most max_depth levels
// of nesting (what the rest of the code base allows), and only lines that
// look like an object are parsed at all. Invalid UTF-8 inside strings is
// accepted: a log line is not refused for one bad byte. Reuses one arena,
// so a parse allocates nothing once warm. Not thread-safe.
class json_line {
 public:
  static constexpr std::size_t max_depth = 32;

  json_line();
  json_line(const json_line&) = delete;
  json_line& operator=(const json_line&) = delete;

  // The line as an object, valid until the next parse; nullptr when it is
  // not one.
  const boost::json::object* parse(std::string_view line);

 private:
  static constexpr std::size_t arena_bytes = 16 * 1024;

  // Made afresh for each line on top of buffer_ (Boost 1.81's release()
  // keeps growing the next block), so a typical line allocates nothing.
  alignas(std::max_align_t) unsigned char buffer_[arena_bytes];
  std::optional<boost::json::monotonic_resource> arena_;
  boost::json::parser parser_;
  boost::json::value value_;
};

}  // namespace vitals
