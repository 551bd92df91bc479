#include "valid_text.hpp"

#include <cstdint>
#include <cstring>

namespace vitals {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at `text[i]`, or 0 when it is
// ill-formed; then `bad` is the length of its maximal ill-formed subpart (≥ 1).
std::size_t sequence_length(std::string_view text, std::size_t i, std::size_t& bad) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
  const std::uint8_t lead = byte(i);
  bad = 1;
  if (lead < 0x80) return 1;
  std::size_t need = 0;
  std::uint8_t low = 0x80, high = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) need = 1;
  else if (lead == 0xE0) need = 2, low = 0xA0;
  else if (lead >= 0xE1 && lead <= 0xEC) need = 2;
  else if (lead == 0xED) need = 2, high = 0x9F;  // no surrogates
  else if (lead >= 0xEE && lead <= 0xEF) need = 2;
  else if (lead == 0xF0) need = 3, low = 0x90;    // no overlongs
  else if (lead >= 0xF1 && lead <= 0xF3) need = 3;
  else if (lead == 0xF4) need = 3, high = 0x8F;  // ≤ U+10FFFF
  else return 0;
  for (std::size_t k = 1; k <= need; ++k) {
    if (i + k >= text.size()) return 0;
    const std::uint8_t b = byte(i + k);
    const bool ok = k == 1 ? (b >= low && b <= high) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return 0;
    bad = k + 1;  // the subpart so far was a valid prefix
  }
  return need + 1;
}

}  // namespace

std::size_t first_invalid_utf8(std::string_view text) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < text.size();) {
    // ASCII is the common case: skip it eight bytes at a time.
    if (i + 8 <= text.size()) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    if (static_cast<std::uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = sequence_length(text, i, bad);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool is_valid_utf8(std::string_view text) { return first_invalid_utf8(text) == std::string_view::npos; }

std::string valid_utf8(std::string_view text) {
  if (is_valid_utf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = sequence_length(text, i, bad);
    if (n == 0) {
      // A valid prefix cut short is one bad subpart, as is a lone byte.
      out += replacement;
      i += bad;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

void make_valid_utf8(std::string& text) {
  if (!is_valid_utf8(text)) text = valid_utf8(text);
}

std::string printable(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const std::size_t n = sequence_length(text, i, bad);
    // C1 controls (U+0080..U+009F) are terminal escapes too.
    const bool c1 = n == 2 && c == 0xC2 && static_cast<std::uint8_t>(text[i + 1]) < 0xA0;
    if (n == 0 || c1) {
      const std::size_t count = n == 0 ? 1 : 2;
      for (std::size_t k = 0; k < count; ++k) {
        const auto b = static_cast<std::uint8_t>(text[i + k]);
        out += "\\x";
        out += hex[b >> 4];
        out += hex[b & 0xf];
      }
      i += count;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace vitals
