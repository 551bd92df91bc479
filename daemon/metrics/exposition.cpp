#include "daemon/metrics/exposition.hpp"

#include "probes/core/valid_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace vitals::exposition {

void append_header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  for (char c : help) {  // HELP escapes only backslash and newline
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void append_label_value(std::string& out, std::string_view value) {
  std::size_t from = 0;  // start of the run not copied yet: runs go in one append each
  bool rest_valid = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    // Values are nearly always ASCII: the first other byte checks the rest once.
    if (static_cast<unsigned char>(c) >= 0x80 && !rest_valid) {
      if (!is_valid_utf8(value.substr(i))) {
        out.append(value.substr(from, i - from));
        append_label_value(out, valid_utf8(value.substr(i)));  // valid now: escaped in the same way
        return;
      }
      rest_valid = true;
    }
    if (c != '\\' && c != '"' && c != '\n') continue;
    out.append(value.substr(from, i - from));
    out += c == '\\' ? "\\\\" : c == '"' ? "\\\"" : "\\n";
    from = i + 1;
  }
  out.append(value.substr(from));
}

void append_label(std::string& out, std::string_view name, std::string_view value, bool first) {
  if (!first) out += ',';
  out += name;
  out += "=\"";
  append_label_value(out, value);
  out += '"';
}

char* write_value(char* out, double value) {
  if (std::isnan(value)) return std::copy_n("NaN", 3, out);
  if (std::isinf(value)) return std::copy_n(value > 0 ? "+Inf" : "-Inf", 4, out);
  // Counts, ports and timestamps read better as plain integers than as 1.7e+09.
  if (value == std::trunc(value) && std::fabs(value) < 9.0e15)
    return std::to_chars(out, out + max_value_size, static_cast<std::int64_t>(value)).ptr;
  return std::to_chars(out, out + max_value_size, value).ptr;
}

void append_value(std::string& out, double value) {
  char buf[max_value_size];
  out.append(buf, write_value(buf, value));
}

namespace {

// Bytes a label value cannot hold as they are: the three escaped ones and
// every byte of a multi-byte (or ill-formed) sequence.
constexpr std::array<bool, 256> not_plain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x80; c < 256; ++c) t[c] = true;
  t['\\'] = t['"'] = t['\n'] = true;
  return t;
}();

}  // namespace

char* write_label_value(char* out, std::string_view value) {
  std::size_t plain = 0;
  while (plain < value.size() && !not_plain[static_cast<unsigned char>(value[plain])]) ++plain;
  out = std::copy_n(value.data(), plain, out);
  if (plain == value.size()) return out;  // nearly always: ASCII without quotes
  std::string rest;
  append_label_value(rest, value.substr(plain));
  return std::copy(rest.begin(), rest.end(), out);
}

}  // namespace vitals::exposition
