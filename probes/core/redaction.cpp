#include "probes/core/redaction.hpp"

#include "probes/core/valid_text.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

namespace vitals {

namespace {

constexpr std::string_view marker = "<redacted>";
constexpr char lower_hex[] = "0123456789abcdef";
constexpr char upper_hex[] = "0123456789ABCDEF";

// Short literals are matched by RE2 alternations, a few rather than one so
// each program stays small however many secrets there are. A long literal
// (a key file, say) would make RE2 slow to compile and, as it walks through
// one, slow to match: those are searched for one by one instead, which for
// a handful of them costs less.
constexpr std::size_t max_group_bytes = 16 * 1024;
constexpr std::size_t max_regex_literal = 128;

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// `keep` says which bytes a URL builder leaves as they are; `plus` writes a
// space as '+' (HTML forms, Python's quote_plus).
std::string percent_encoded(std::string_view s, const char* hex, bool (*keep)(unsigned char), bool plus) {
  std::string out;
  for (const unsigned char c : s) {
    if (plus && c == ' ') {
      out += '+';
    } else if (keep(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

// What a query or path may hold unencoded (RFC 3986 pchar and query): a
// builder that encodes only what it must leaves these.
bool query_char(unsigned char c) {
  return unreserved(c) || std::string_view("!$&'()*+,;=:@/?").find(static_cast<char>(c)) != std::string_view::npos;
}

void append_u_escape(std::string& out, std::uint32_t unit) {
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += lower_hex[(unit >> shift) & 0xf];
}

// Length and code point of the UTF-8 sequence at `i`, or 0 when ill-formed.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& code_point) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > s.size() || !is_valid_utf8(s.substr(i, n))) return 0;
  code_point = n == 1 ? c : c & (0x7F >> n);
  for (std::size_t k = 1; k < n; ++k) code_point = (code_point << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return n;
}

// As a JSON string body. `ascii`: non-ASCII as \u escapes (Python's
// default); `slash`: "/" as "\/" (PHP's default).
std::string json_escaped(std::string_view s, bool ascii, bool slash) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t code_point = 0;
    const std::size_t n = ascii && c >= 0x80 ? utf8_sequence(s, i, code_point) : 0;
    if (n > 0) {
      if (code_point > 0xFFFF) {
        code_point -= 0x10000;
        append_u_escape(out, 0xD800 + (code_point >> 10));
        append_u_escape(out, 0xDC00 + (code_point & 0x3FF));
      } else {
        append_u_escape(out, code_point);
      }
      i += n;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '/':
        out += slash ? "\\/" : "/";
        break;
      default:
        if (c < 0x20) append_u_escape(out, c);
        else out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

// As a label value in the Prometheus text format.
std::string label_escaped(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// `apostrophe`: how the escaper writes ' (&#39; or Python's &#x27;).
std::string html_escaped(std::string_view s, std::string_view apostrophe) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += apostrophe; break;
      default: out += c;
    }
  }
  return out;
}

// One alternation of quoted literals, longest first: RE2 prefers the
// earlier alternative at a position, so the longest form there wins.
// Latin-1, so every byte (ill-formed UTF-8 included) matches itself.
struct literal_group {
  std::vector<std::string> literals;
  std::unique_ptr<RE2> re;  // null: plain search, for long literals or when RE2 refused them

  void compile() {
    if (literals.front().size() > max_regex_literal) return;
    std::string pattern;
    for (const auto& l : literals) pattern += (pattern.empty() ? "" : "|") + RE2::QuoteMeta(l);
    RE2::Options options;
    options.set_encoding(RE2::Options::EncodingLatin1);
    options.set_log_errors(false);
    options.set_max_mem(64 << 20);
    re = std::make_unique<RE2>(pattern, options);
    if (!re->ok()) re.reset();
  }

  // The first match at or after `from`: its start and length.
  bool find(std::string_view text, std::size_t from, std::size_t& start, std::size_t& length) const {
    if (re) {
      re2::StringPiece match;
      if (!re->Match(re2::StringPiece(text.data(), text.size()), from, text.size(), RE2::UNANCHORED, &match, 1))
        return false;
      start = static_cast<std::size_t>(match.data() - text.data());
      length = match.size();
      return true;
    }
    bool found = false;
    for (const auto& l : literals) {
      const auto at = text.find(l, from);
      if (at != std::string_view::npos && (!found || at < start)) {
        start = at;
        length = l.size();
        found = true;
      }
    }
    return found;
  }

  // One pass: each match (a "<redacted>" too) becomes "<redacted>".
  void redact(std::string& text) const {
    std::size_t start = 0, length = 0;
    if (!find(text, 0, start, length)) return;
    std::string out;
    std::size_t copied = 0;
    do {
      out.append(text, copied, start - copied);
      out += marker;
      copied = start + length;
    } while (copied < text.size() && find(text, copied, start, length));
    out.append(text, copied, std::string::npos);
    text = std::move(out);
  }
};

}  // namespace

std::vector<std::string> secret_forms(std::string_view secret) {
  std::vector<std::string> forms{std::string(secret)};
  auto add = [&](std::string form) {
    if (std::find(forms.begin(), forms.end(), form) == forms.end()) forms.push_back(std::move(form));
  };
  add(percent_encoded(secret, upper_hex, unreserved, false));
  add(percent_encoded(secret, lower_hex, unreserved, false));
  add(percent_encoded(secret, upper_hex, unreserved, true));
  add(percent_encoded(secret, upper_hex, query_char, false));
  add(json_escaped(secret, false, false));
  add(json_escaped(secret, true, false));
  add(json_escaped(secret, false, true));
  add(label_escaped(secret));
  add(html_escaped(secret, "&#39;"));
  add(html_escaped(secret, "&#x27;"));
  add(printable(secret));
  return forms;
}

namespace {

// Where a text was cut to an excerpt it says so with "…", and a secret the
// cut split left its first part just before it: that part is hidden too,
// when it is at least this long (or all but the last byte of a shorter
// secret). The longest such part of any form wins.
constexpr std::string_view cut_mark = "…";
constexpr std::size_t min_cut_part = 4;

std::size_t cut_part_before(std::string_view text, std::size_t at, const std::vector<std::string>& forms) {
  std::size_t longest = 0;
  for (const auto& f : forms) {
    const std::size_t least = std::max<std::size_t>(1, std::min(min_cut_part, f.size() - 1));
    const std::size_t most = std::min(f.size() - 1, at);  // a whole form is gone already
    // From the longest candidate down; the first byte rules most out.
    for (std::size_t k = most; k >= least && k > longest; --k)
      if (text[at - k] == f[0] && text.compare(at - k, k, f, 0, k) == 0) {
        longest = k;
        break;
      }
  }
  return longest;
}

void hide_cut_parts(std::string& text, const std::vector<std::string>& forms) {
  for (auto at = text.find(cut_mark); at != std::string::npos; at = text.find(cut_mark, at + cut_mark.size())) {
    const std::size_t part = cut_part_before(text, at, forms);
    if (part == 0) continue;
    text.replace(at - part, part, marker);
    at = at - part + marker.size();
  }
}

}  // namespace

struct redactor::compiled {
  std::vector<std::string> secrets;
  std::vector<std::string> forms;  // of every secret, longest first
  std::vector<literal_group> groups;
};

namespace {

// The values to keep: not empty, each once, within the bounds.
std::vector<std::string> within_bounds(std::vector<std::string> values) {
  std::vector<std::string> kept;
  std::set<std::string> seen;
  std::size_t total = 0;
  for (auto& v : values) {
    if (v.empty() || seen.contains(v) || kept.size() == redactor::max_secrets ||
        total + v.size() > redactor::max_total_bytes)
      continue;
    total += v.size();
    seen.insert(v);
    kept.push_back(std::move(v));
  }
  return kept;
}

// `forms` (longest first) into groups: the long ones in one plain group
// first, then RE2 groups of at most max_group_bytes. Each group also
// matches the marker itself and keeps it, so redacting twice, or by a
// later group, changes nothing already redacted.
std::vector<literal_group> make_groups(const std::vector<std::string>& forms) {
  std::vector<literal_group> groups;
  std::size_t group_bytes = 0;
  for (const auto& f : forms) {
    const bool after_long = !groups.empty() && groups.back().literals.front().size() > max_regex_literal;
    if (groups.empty() || (f.size() <= max_regex_literal && (after_long || group_bytes + f.size() > max_group_bytes))) {
      groups.emplace_back();
      group_bytes = 0;
    }
    group_bytes += f.size();
    groups.back().literals.push_back(f);
  }
  for (auto& g : groups) {
    if (std::find(g.literals.begin(), g.literals.end(), marker) == g.literals.end()) g.literals.emplace_back(marker);
    std::stable_sort(g.literals.begin(), g.literals.end(),
                     [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    g.compile();
  }
  return groups;
}

}  // namespace

redactor::redactor(std::vector<std::string> secrets) {
  auto c = std::make_shared<compiled>();
  c->secrets = within_bounds(std::move(secrets));
  if (c->secrets.empty()) return;
  std::set<std::string> unique;
  for (const auto& s : c->secrets)
    for (auto& form : secret_forms(s)) unique.insert(std::move(form));
  c->forms.assign(unique.begin(), unique.end());
  std::stable_sort(c->forms.begin(), c->forms.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  c->groups = make_groups(c->forms);
  compiled_ = std::move(c);
}

void redactor::redact(std::string& text) const {
  if (!compiled_ || text.empty()) return;
  for (const auto& g : compiled_->groups) g.redact(text);
  hide_cut_parts(text, compiled_->forms);
}

std::span<const std::string> redactor::secrets() const {
  if (!compiled_) return {};
  return compiled_->secrets;
}

redactor redactor::merge(const redactor& older, const redactor& newer) {
  if (older.empty()) return newer;
  if (newer.empty()) return older;
  std::vector<std::string> all(newer.secrets().begin(), newer.secrets().end());
  all.insert(all.end(), older.secrets().begin(), older.secrets().end());
  return redactor(std::move(all));
}

}  // namespace vitals
