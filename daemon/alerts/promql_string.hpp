#pragma once

// PromQL string literals, read and written as Prometheus reads them, so a
// rule means the same in vitalsd and in `vitalsd rules` output.

#include <cstddef>
#include <string>
#include <string_view>

namespace vitals::alerts {

// What is wrong with a literal, at a 1-based column of the expression.
struct promql_string_error {
  std::size_t column = 0;
  std::string message;
};

// Reads the literal opened at s[open]: "…" and '…' with Go's escapes
// (\a \b \f \n \r \t \v \\ the quote, \ooo and \xHH bytes, \uHHHH and
// \UHHHHHHHH code points), `…` raw. Appends its value to `value` and
// returns where the next token starts. An escape PromQL does not know is
// an error, not a letter: "\d" would otherwise reach a regex as "d".
// Throws promql_string_error.
std::size_t read_promql_string(std::string_view s, std::size_t open, std::string& value);

// A double-quoted literal that reads back as `text`, in Prometheus too:
// control characters and bytes that are not UTF-8 as \x escapes, so a rule
// file shows them and stays UTF-8; U+FFFD (which Prometheus's lexer takes
// for a decoding error when written as it is) and the code points a YAML
// emitter would replace (C1 controls, noncharacters, the byte order mark)
// as \u escapes.
std::string promql_quote(std::string_view text);

}  // namespace vitals::alerts
