#pragma once

// Where a YAML syntax error began. yaml-cpp reports an unclosed "[" or "{"
// where it gave up, often the end of the file, many lines below the bracket
// a user has to fix; this finds the bracket (or quote) itself.

#include <cstddef>
#include <optional>
#include <string_view>

namespace vitals {

struct yaml_opener {
  char what = 0;         // '[', '{', '"' or '\''
  std::size_t line = 0;  // 0-based, like YAML::Mark
  std::size_t column = 0;
};

// The innermost flow collection or quoted scalar still open after the
// first `length` bytes of `text`, or nullopt when all are closed. Comments,
// block scalars ("|", ">") and brackets or quotes inside plain scalars
// ("http://h/[x]", "don't") are skipped the way YAML reads them.
std::optional<yaml_opener> unclosed_yaml_opener(std::string_view text, std::size_t length);

}  // namespace vitals
