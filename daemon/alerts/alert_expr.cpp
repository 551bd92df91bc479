#include "daemon/alerts/alert_expr.hpp"

#include "daemon/alerts/promql_string.hpp"
#include "probes/core/user_regex.hpp"

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
      try {
        i = read_promql_string(s, i, t.text);
      } catch (const promql_string_error& e) {
        throw lex_failure{{e.column, e.message}};
      }
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
    return label + ops[static_cast<int>(kind)] + promql_quote(value);
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
    // Only a selector binds tighter than the comparison: "(a or b) == 0"
    // and "(a > 1) < 5" keep their parentheses.
    const bool bare = dynamic_cast<const selector*>(operand_.get()) != nullptr;
    const std::string operand = bare ? operand_->text() : "(" + operand_->text() + ")";
    return operand + " " + ops[static_cast<int>(op_)] + " " + number_text(threshold_);
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
      case tok::string: return "string " + promql_quote(t.text);
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
          if (!m.regex) fail(value, "invalid regular expression " + promql_quote(m.value) + ": " + why);
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
