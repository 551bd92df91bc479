#include "daemon/alerts/promql_string.hpp"

#include "probes/core/valid_text.hpp"

#include <charconv>
#include <cstdint>
#include <utility>

namespace vitals::alerts {

namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The escape at s[at] (a backslash) inside a string opened with `quote`,
// appended to `out` as PromQL (Go's strconv) reads it; returns where the
// string goes on. An escape PromQL does not know is an error there rather
// than a letter: "\d" would otherwise reach a regular expression as "d".
std::size_t lex_escape(std::string_view s, std::size_t at, char quote, std::string& out) {
  auto fail = [&](std::string message) { throw promql_string_error{at + 1, std::move(message)}; };
  if (at + 1 >= s.size()) fail("string not closed");
  const char e = s[at + 1];
  static constexpr std::string_view simple = "abfnrtv", meant = "\a\b\f\n\r\t\v";
  if (const auto k = simple.find(e); k != std::string_view::npos) {
    out += meant[k];
    return at + 2;
  }
  if (e == '\\' || e == quote) {
    out += e;
    return at + 2;
  }
  int digits = 0, base = 16;
  std::uint32_t max = 0x10FFFF;
  std::size_t first = at + 2;
  if (e >= '0' && e <= '7') {
    digits = 3, base = 8, max = 255, first = at + 1;
  } else if (e == 'x') {
    digits = 2, max = 255;
  } else if (e == 'u') {
    digits = 4;
  } else if (e == 'U') {
    digits = 8;
  } else {
    const auto letter = printable(std::string(1, e));
    fail("unknown escape sequence \"\\" + letter + "\" (a regular expression's \\" + letter + " is written \"\\\\" +
         letter + "\" or in `backquotes`)");
  }
  std::uint32_t value = 0;
  const auto digits_end = first + static_cast<std::size_t>(digits);
  if (digits_end > s.size()) fail("escape sequence not terminated");
  const auto [end, ec] = std::from_chars(s.data() + first, s.data() + digits_end, value, base);
  if (ec != std::errc() || end != s.data() + digits_end) fail("escape sequence needs " + std::to_string(digits) + " digits");
  if (value > max || (value >= 0xD800 && value < 0xE000)) fail("escape sequence is an invalid Unicode code point");
  if (max == 255)
    out += static_cast<char>(value);  // a byte, as in Go
  else
    append_utf8(out, value);
  return digits_end;
}

}  // namespace

std::size_t read_promql_string(std::string_view s, std::size_t open, std::string& value) {
  const char quote = s[open];
  std::size_t j = open + 1;
  for (;;) {
    if (j >= s.size() || (quote != '`' && s[j] == '\n')) throw promql_string_error{open + 1, "string not closed"};
    if (s[j] == quote) return j + 1;
    if (s[j] == '\\' && quote != '`') {
      j = lex_escape(s, j, quote, value);
      continue;
    }
    value += s[j++];
  }
}

namespace {

// The code point of the well-formed sequence at text[0], and its length.
std::pair<std::uint32_t, std::size_t> decode_utf8(std::string_view text) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(text[k])); };
  if (byte(0) < 0x80) return {byte(0), 1};
  if (byte(0) < 0xE0) return {((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F), 2};
  if (byte(0) < 0xF0) return {((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F), 3};
  return {((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F), 4};
}

bool needs_escape(std::uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xFFFD || cp == 0xFEFF || (cp >= 0xFDD0 && cp <= 0xFDEF) ||
         (cp & 0xFFFE) == 0xFFFE;
}

// \xHH is a byte in PromQL, so only an ASCII character or a stray byte is
// written with it; a code point from U+0080 on is \uHHHH or \UHHHHHHHH.
void append_escape(std::string& out, std::uint32_t cp, bool byte = false) {
  static constexpr char hex[] = "0123456789abcdef";
  const int digits = cp < 0x80 || byte ? 2 : cp <= 0xFFFF ? 4 : 8;
  out += digits == 2 ? "\\x" : digits == 4 ? "\\u" : "\\U";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += hex[(cp >> shift) & 0xF];
}

}  // namespace

std::string promql_quote(std::string_view text) {
  std::string out = "\"";
  std::size_t i = 0;
  while (i < text.size()) {
    const auto bad = first_invalid_utf8(text.substr(i));
    const auto valid_end = bad == std::string_view::npos ? text.size() : i + bad;
    while (i < valid_end) {
      const auto [cp, length] = decode_utf8(text.substr(i));
      if (cp == '"' || cp == '\\') {
        out += '\\';
        out += static_cast<char>(cp);
      } else if (cp == '\n') {
        out += "\\n";
      } else if (cp == '\t') {
        out += "\\t";
      } else if (needs_escape(cp)) {
        append_escape(out, cp);
      } else {
        out.append(text.substr(i, length));
      }
      i += length;
    }
    if (i < text.size()) append_escape(out, static_cast<unsigned char>(text[i++]), true);  // not UTF-8
  }
  return out + "\"";
}

}  // namespace vitals::alerts
