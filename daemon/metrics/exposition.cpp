#include "daemon/metrics/exposition.hpp"

#include "probes/core/valid_text.hpp"

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

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  std::to_chars_result r;
  // Counts, ports and timestamps read better as plain integers than as 1.7e+09.
  if (value == std::trunc(value) && std::fabs(value) < 9.0e15)
    r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(value));
  else
    r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
}

}  // namespace vitals::exposition
