#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vitals::exposition {

// Small pieces of the Prometheus text format 0.0.4, appended to `out`
// without temporary strings: /metrics is written on the loop, and its cost
// grows with every probe.

// `# HELP name help` and `# TYPE name type` lines.
void append_header(std::string& out, std::string_view name, std::string_view help, std::string_view type);

// A label value with \, " and newline escaped, and ill-formed UTF-8
// replaced by U+FFFD: values quote the host (process and user names), and
// one ill-formed byte makes Prometheus reject the whole scrape.
void append_label_value(std::string& out, std::string_view value);

// `name="value"`, escaped; `first` omits the leading comma.
void append_label(std::string& out, std::string_view name, std::string_view value, bool first = false);

// A sample value: integers without exponent, others shortest round-trip,
// and +Inf, -Inf, NaN spelled as Prometheus expects.
void append_value(std::string& out, double value);

// The same two written at `out`, which has room for them, returning the end:
// for a writer that sizes its buffer once per line.
inline constexpr std::size_t max_value_size = 32;
char* write_value(char* out, double value);
// At most max_label_value_size(value.size()) bytes: an escape takes two,
// and an ill-formed byte three (U+FFFD).
constexpr std::size_t max_label_value_size(std::size_t n) { return 3 * n; }
char* write_label_value(char* out, std::string_view value);

}  // namespace vitals::exposition
