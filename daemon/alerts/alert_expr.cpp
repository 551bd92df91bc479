#include "daemon/alerts/alert_expr.hpp"

#include "probes/core/user_regex.hpp"
#include "probes/core/valid_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace vitals::alerts {

namespace {

// ---------------------------------------------------------------------------
// Tokens.

enum class tok { ident, string, number, lbrace, rbrace, lparen, rparen, comma, eq, ne, re, nre, gt, ge, lt, le, eqeq, other, end };

struct token {
  tok kind = tok::end;
  std::string text;  // identifier name, string contents, number text
  double number = 0;
  std::size_t column = 1;
};

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

struct lex_failure {
  parse_error error;
};

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
  auto fail = [&](std::string message) { throw lex_failure{{at + 1, std::move(message)}}; };
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

// The string literal opened at s[open]: "…" and '…' with escapes, `…` raw.
// Returns where the next token starts.
std::size_t lex_string(std::string_view s, std::size_t open, std::string& value) {
  const char quote = s[open];
  std::size_t j = open + 1;
  for (;;) {
    if (j >= s.size() || (quote != '`' && s[j] == '\n')) throw lex_failure{{open + 1, "string not closed"}};
    if (s[j] == quote) return j + 1;
    if (s[j] == '\\' && quote != '`') {
      j = lex_escape(s, j, quote, value);
      continue;
    }
    value += s[j++];
  }
}

std::vector<token> lex(std::string_view s) {
  std::vector<token> out;
  std::size_t i = 0;
  auto fail = [&](std::size_t at, std::string message) { throw lex_failure{{at + 1, std::move(message)}}; };
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    token t;
    t.column = i + 1;
    auto two = [&](char next) { return i + 1 < s.size() && s[i + 1] == next; };
    if (ident_start(c)) {
      std::size_t j = i;
      while (j < s.size() && ident_char(s[j])) ++j;
      t.text = std::string(s.substr(i, j - i));
      // Inf and NaN are numbers in PromQL.
      if (t.text == "Inf" || t.text == "inf" || t.text == "NaN" || t.text == "nan") {
        t.kind = tok::number;
        t.number = t.text[0] == 'I' || t.text[0] == 'i' ? std::numeric_limits<double>::infinity()
                                                        : std::numeric_limits<double>::quiet_NaN();
      } else {
        t.kind = tok::ident;
      }
      i = j;
    } else if ((c >= '0' && c <= '9') || c == '.' ||
               ((c == '-' || c == '+') && i + 1 < s.size() && ((s[i + 1] >= '0' && s[i + 1] <= '9') || s[i + 1] == '.' ||
                                                               s[i + 1] == 'I'))) {
      std::size_t j = i + ((c == '-' || c == '+') ? 1 : 0);
      if (s.substr(j, 3) == "Inf") {
        t.number = c == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
        j += 3;
      } else {
        while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                                ((s[j] == '-' || s[j] == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E'))))
          ++j;
        const char* first = s.data() + i + (c == '+' ? 1 : 0);
        auto [end, ec] = std::from_chars(first, s.data() + j, t.number);
        if (ec != std::errc() || end != s.data() + j) fail(i, "\"" + std::string(s.substr(i, j - i)) + "\" is not a number");
      }
      t.kind = tok::number;
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else if (c == '"' || c == '\'' || c == '`') {
      t.kind = tok::string;
      i = lex_string(s, i, t.text);
    } else if (c == '{') {
      t.kind = tok::lbrace, ++i;
    } else if (c == '}') {
      t.kind = tok::rbrace, ++i;
    } else if (c == '(') {
      t.kind = tok::lparen, ++i;
    } else if (c == ')') {
      t.kind = tok::rparen, ++i;
    } else if (c == ',') {
      t.kind = tok::comma, ++i;
    } else if (c == '=' && two('~')) {
      t.kind = tok::re, i += 2;
    } else if (c == '=' && two('=')) {
      t.kind = tok::eqeq, i += 2;
    } else if (c == '=') {
      t.kind = tok::eq, ++i;
    } else if (c == '!' && two('=')) {
      t.kind = tok::ne, i += 2;
    } else if (c == '!' && two('~')) {
      t.kind = tok::nre, i += 2;
    } else if (c == '>' && two('=')) {
      t.kind = tok::ge, i += 2;
    } else if (c == '>') {
      t.kind = tok::gt, ++i;
    } else if (c == '<' && two('=')) {
      t.kind = tok::le, i += 2;
    } else if (c == '<') {
      t.kind = tok::lt, ++i;
    } else {
      // Left for the parser, which knows what was expected there.
      t.kind = tok::other;
      t.text = std::string(1, c);
      ++i;
    }
    out.push_back(std::move(t));
  }
  token end;
  end.column = s.size() + 1;
  out.push_back(end);
  return out;
}

// A PromQL string literal that reads back as `v`, in Prometheus too:
// control characters and bytes that are not UTF-8 as \x escapes, so a
// rule file shows them and stays UTF-8; as \u escapes U+FFFD, which
// Prometheus's lexer refuses written as it is (it takes it for a decoding
// error), and the code points a YAML emitter would replace (C1 controls,
// noncharacters, the byte order mark).
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

std::string quote(const std::string& v) {
  const std::string_view text = v;
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

// ---------------------------------------------------------------------------
// The tree.

struct matcher {
  enum class op { eq, ne, re, nre } kind = op::eq;
  std::string label;
  std::string value;
  std::optional<user_regex> regex;  // anchored, as in PromQL

  bool matches(const std::string& v) const {
    switch (kind) {
      case op::eq: return v == value;
      case op::ne: return v != value;
      case op::re: return regex->matches(v);
      case op::nre: return !regex->matches(v);
    }
    return false;
  }
  std::string text() const {
    static constexpr const char* ops[] = {"=", "!=", "=~", "!~"};
    return label + ops[static_cast<int>(kind)] + quote(value);
  }
};

class selector final : public expr {
public:
  selector(std::string name, std::vector<matcher> matchers) : name_(std::move(name)), matchers_(std::move(matchers)) {}

  std::vector<series> eval(const std::vector<series>& all) const override {
    std::vector<series> out;
    for (const auto& s : all) {
      if (s.name != name_) continue;
      const bool ok = std::all_of(matchers_.begin(), matchers_.end(), [&](const matcher& m) {
        const auto it = s.label_values.find(m.label);
        return m.matches(it == s.label_values.end() ? std::string() : it->second);  // absent = ""
      });
      if (ok) out.push_back(s);
    }
    return out;
  }
  void metric_names(std::set<std::string>& out) const override { out.insert(name_); }
  std::string text() const override {
    if (matchers_.empty()) return name_;
    std::string t = name_ + "{";
    for (std::size_t i = 0; i < matchers_.size(); ++i) t += (i ? ", " : "") + matchers_[i].text();
    return t + "}";
  }

private:
  std::string name_;
  std::vector<matcher> matchers_;
};

class comparison final : public expr {
public:
  enum class op { gt, ge, lt, le, eq, ne };
  comparison(std::unique_ptr<expr> operand, op o, double threshold)
      : operand_(std::move(operand)), op_(o), threshold_(threshold) {}

  std::vector<series> eval(const std::vector<series>& all) const override {
    auto in = operand_->eval(all);
    std::vector<series> out;
    for (auto& s : in)
      if (holds(s.value)) out.push_back(std::move(s));
    return out;
  }
  void metric_names(std::set<std::string>& out) const override { operand_->metric_names(out); }
  std::string text() const override {
    static constexpr const char* ops[] = {">", ">=", "<", "<=", "==", "!="};
    return operand_->text() + " " + ops[static_cast<int>(op_)] + " " + number_text(threshold_);
  }

private:
  bool holds(double v) const {
    switch (op_) {
      case op::gt: return v > threshold_;
      case op::ge: return v >= threshold_;
      case op::lt: return v < threshold_;
      case op::le: return v <= threshold_;
      case op::eq: return v == threshold_;
      case op::ne: return v != threshold_;  // NaN != anything holds, as in Prometheus
    }
    return false;
  }

  std::unique_ptr<expr> operand_;
  op op_;
  double threshold_;
};

// `on(a, b)` matches on those labels only; `ignoring(a, b)` on all but
// those; neither: on every label.
struct matching {
  enum class mode { all, on, ignoring } kind = mode::all;
  std::vector<std::string> labels;

  alerts::labels key(const alerts::labels& l) const {
    if (kind == mode::all) return l;
    alerts::labels k;
    for (const auto& [name, value] : l) {
      const bool listed = std::find(labels.begin(), labels.end(), name) != labels.end();
      if (listed == (kind == mode::on)) k.emplace(name, value);
    }
    return k;
  }
  std::string text() const {
    if (kind == mode::all) return {};
    std::string t = kind == mode::on ? " on(" : " ignoring(";
    for (std::size_t i = 0; i < labels.size(); ++i) t += (i ? ", " : "") + labels[i];
    return t + ")";
  }
};

class set_operation final : public expr {
public:
  enum class op { and_, or_, unless };
  set_operation(std::unique_ptr<expr> l, op o, matching m, std::unique_ptr<expr> r)
      : left_(std::move(l)), op_(o), matching_(std::move(m)), right_(std::move(r)) {}

  std::vector<series> eval(const std::vector<series>& all) const override {
    auto l = left_->eval(all);
    auto r = right_->eval(all);
    std::set<labels> right_keys;
    for (const auto& s : r) right_keys.insert(matching_.key(s.label_values));
    std::vector<series> out;
    if (op_ == op::or_) {
      std::set<labels> left_keys;
      for (auto& s : l) {
        left_keys.insert(matching_.key(s.label_values));
        out.push_back(std::move(s));
      }
      for (auto& s : r)
        if (!left_keys.contains(matching_.key(s.label_values))) out.push_back(std::move(s));
      return out;
    }
    const bool keep_matched = op_ == op::and_;
    for (auto& s : l)
      if (right_keys.contains(matching_.key(s.label_values)) == keep_matched) out.push_back(std::move(s));
    return out;
  }
  void metric_names(std::set<std::string>& out) const override {
    left_->metric_names(out);
    right_->metric_names(out);
  }
  std::string text() const override {
    static constexpr const char* ops[] = {"and", "or", "unless"};
    return side(*left_) + " " + ops[static_cast<int>(op_)] + matching_.text() + " " + side(*right_);
  }
  op kind() const { return op_; }

private:
  // `or` binds looser than `and`/`unless`: an `or` inside an `and` needs parentheses.
  std::string side(const expr& e) const {
    const auto* inner = dynamic_cast<const set_operation*>(&e);
    if (inner != nullptr && inner->kind() == op::or_ && op_ != op::or_) return "(" + e.text() + ")";
    return e.text();
  }

  std::unique_ptr<expr> left_;
  op op_;
  matching matching_;
  std::unique_ptr<expr> right_;
};

// ---------------------------------------------------------------------------
// Parsing: or_expr := and_expr {"or" and_expr}; and_expr := primary
// {("and"|"unless") primary}; primary := "(" or_expr ")" | selector [cmp number].

struct parse_failure {
  parse_error error;
};

// The parser and every walk over the tree (eval, text, the destructor)
// recurse: these limits keep a hostile rule from overflowing the stack.
constexpr std::size_t max_nesting = 64;    // parentheses inside parentheses
constexpr std::size_t max_operators = 256; // and/or/unless and comparisons in one rule

class parser {
public:
  explicit parser(std::vector<token> tokens) : t_(std::move(tokens)) {}

  std::unique_ptr<expr> parse() {
    auto e = or_expr();
    if (peek().kind != tok::end) fail(peek(), "unexpected " + describe(peek()) + "; expected and, or, unless or the end");
    return e;
  }

private:
  const token& peek() const { return t_[i_]; }
  const token& next() { return t_[i_++]; }
  bool keyword(const char* word) const { return peek().kind == tok::ident && peek().text == word; }

  [[noreturn]] static void fail(const token& at, std::string message) {
    throw parse_failure{{at.column, std::move(message)}};
  }

  static std::string describe(const token& t) {
    switch (t.kind) {
      case tok::end: return "end of expression";
      case tok::ident: return "\"" + t.text + "\"";
      case tok::number: return "number " + t.text;
      case tok::string: return "string " + quote(t.text);
      case tok::other: return "\"" + t.text + "\"";
      default: return "symbol";
    }
  }

  // Every operator deepens the tree by one.
  void count_operator(const token& at) {
    if (++operators_ > max_operators)
      fail(at, "the expression has more than " + std::to_string(max_operators) +
                   " operators; split it into several rules");
  }

  std::unique_ptr<expr> or_expr() {
    auto left = and_expr();
    while (keyword("or")) {
      count_operator(next());
      auto m = matching_clause();
      left = std::make_unique<set_operation>(std::move(left), set_operation::op::or_, std::move(m), and_expr());
    }
    return left;
  }

  std::unique_ptr<expr> and_expr() {
    auto left = primary();
    while (keyword("and") || keyword("unless")) {
      count_operator(peek());
      const auto o = next().text == "and" ? set_operation::op::and_ : set_operation::op::unless;
      auto m = matching_clause();
      left = std::make_unique<set_operation>(std::move(left), o, std::move(m), primary());
    }
    return left;
  }

  // Optional `on(labels)` or `ignoring(labels)` after and/or/unless.
  matching matching_clause() {
    matching m;
    if (!keyword("on") && !keyword("ignoring")) return m;
    m.kind = next().text == "on" ? matching::mode::on : matching::mode::ignoring;
    if (peek().kind != tok::lparen) fail(peek(), "expected \"(\" and label names");
    next();
    while (peek().kind != tok::rparen) {
      if (peek().kind != tok::ident) fail(peek(), "expected a label name, got " + describe(peek()));
      m.labels.push_back(next().text);
      if (peek().kind == tok::comma)
        next();
      else if (peek().kind != tok::rparen)
        fail(peek(), "expected \",\" or \")\", got " + describe(peek()));
    }
    next();
    return m;
  }

  std::unique_ptr<expr> primary() {
    if (peek().kind == tok::lparen) {
      if (++nesting_ > max_nesting)
        fail(peek(), "parentheses nested deeper than " + std::to_string(max_nesting) + " levels");
      next();
      auto inner = or_expr();
      if (peek().kind != tok::rparen) fail(peek(), "expected \")\", got " + describe(peek()));
      next();
      --nesting_;
      return maybe_comparison(std::move(inner));
    }
    if (peek().kind != tok::ident || keyword("and") || keyword("or") || keyword("unless"))
      fail(peek(), "expected a metric name, got " + describe(peek()));
    const std::string name = next().text;
    if (peek().kind == tok::lparen)
      fail(peek(), "functions are not part of the rule language (only selectors, comparisons, and/or/unless)");
    std::vector<matcher> matchers;
    if (peek().kind == tok::lbrace) {
      next();
      while (peek().kind != tok::rbrace) {
        if (peek().kind != tok::ident) fail(peek(), "expected a label name, got " + describe(peek()));
        matcher m;
        m.label = next().text;
        switch (peek().kind) {
          case tok::eq: m.kind = matcher::op::eq; break;
          case tok::ne: m.kind = matcher::op::ne; break;
          case tok::re: m.kind = matcher::op::re; break;
          case tok::nre: m.kind = matcher::op::nre; break;
          default: fail(peek(), "expected =, !=, =~ or !~ after label " + m.label);
        }
        next();
        if (peek().kind != tok::string) fail(peek(), "expected a quoted label value, got " + describe(peek()));
        const token& value = next();
        m.value = value.text;
        if (m.kind == matcher::op::re || m.kind == matcher::op::nre) {
          std::string why;
          m.regex = user_regex::compile(m.value, user_regex::anchoring::whole, why);
          if (!m.regex) fail(value, "invalid regular expression " + quote(m.value) + ": " + why);
        }
        matchers.push_back(std::move(m));
        if (peek().kind == tok::comma) {
          next();
        } else if (peek().kind != tok::rbrace) {
          fail(peek(), "expected \",\" or \"}\", got " + describe(peek()));
        }
      }
      next();
    }
    return maybe_comparison(std::make_unique<selector>(name, std::move(matchers)));
  }

  std::unique_ptr<expr> maybe_comparison(std::unique_ptr<expr> operand) {
    comparison::op o;
    switch (peek().kind) {
      case tok::gt: o = comparison::op::gt; break;
      case tok::ge: o = comparison::op::ge; break;
      case tok::lt: o = comparison::op::lt; break;
      case tok::le: o = comparison::op::le; break;
      case tok::eqeq: o = comparison::op::eq; break;
      case tok::ne: o = comparison::op::ne; break;
      case tok::eq: fail(peek(), "use == to compare (= is for label matchers)");
      default: return operand;
    }
    count_operator(next());
    if (keyword("bool")) fail(peek(), "the bool modifier is not part of the rule language");
    if (peek().kind != tok::number) fail(peek(), "expected a number to compare with, got " + describe(peek()));
    return std::make_unique<comparison>(std::move(operand), o, next().number);
  }

  std::vector<token> t_;
  std::size_t i_ = 0;
  std::size_t nesting_ = 0;
  std::size_t operators_ = 0;
};

}  // namespace

parse_result parse_expr(std::string_view text) {
  parse_result r;
  try {
    parser p(lex(text));
    r.value = p.parse();
  } catch (const lex_failure& f) {
    r.error = f.error;
  } catch (const parse_failure& f) {
    r.error = f.error;
  }
  return r;
}

std::string number_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

}  // namespace vitals::alerts
