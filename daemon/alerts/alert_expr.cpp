// Reading and printing rule expressions: PromQL's lexer, grammar
// (precedence and associativity as in Prometheus 2.42's generated parser)
// and type checks, with errors that point at a column.

#include "daemon/alerts/alert_expr.hpp"

#include "daemon/alerts/promql.hpp"
#include "daemon/alerts/promql_string.hpp"
#include "probes/core/diagnostics.hpp"
#include "probes/core/user_regex.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>

namespace vitals::alerts {

namespace promql {

std::string_view type_name(type t) {
  switch (t) {
    case type::scalar: return "scalar";
    case type::vector: return "instant vector";
    case type::matrix: return "range vector";
  }
  return "?";
}

bool is_comparison(binop op) { return op >= binop::eq && op <= binop::le; }
bool is_set_operator(binop op) { return op == binop::and_ || op == binop::or_ || op == binop::unless; }

std::string_view binop_text(binop op) {
  static constexpr std::string_view text[] = {"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=",
                                              "and", "or", "unless"};
  return text[static_cast<int>(op)];
}

const std::vector<function_info>& functions() {
  using enum type;
  static const std::vector<function_info> all = {
      {"abs", {vector}},
      {"absent", {vector}},
      {"absent_over_time", {matrix}},
      {"avg_over_time", {matrix}},
      {"ceil", {vector}},
      {"changes", {matrix}},
      {"clamp", {vector, scalar, scalar}},
      {"clamp_max", {vector, scalar}},
      {"clamp_min", {vector, scalar}},
      {"count_over_time", {matrix}},
      {"delta", {matrix}},
      {"deriv", {matrix}},
      {"floor", {vector}},
      {"histogram_quantile", {scalar, vector}},
      {"idelta", {matrix}},
      {"increase", {matrix}},
      {"irate", {matrix}},
      {"last_over_time", {matrix}},
      {"max_over_time", {matrix}},
      {"min_over_time", {matrix}},
      {"predict_linear", {matrix, scalar}},
      {"rate", {matrix}},
      {"resets", {matrix}},
      {"round", {vector, scalar}, 1},
      {"scalar", {vector}, 0, scalar},
      {"sqrt", {vector}},
      {"sum_over_time", {matrix}},
      {"time", {}, 0, scalar},
      {"vector", {scalar}},
  };
  return all;
}

const function_info* find_function(std::string_view name) {
  for (const auto& f : functions())
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace promql

namespace {

using promql::aggregation;
using promql::binop;
using promql::node;
using promql::type;
using promql::vector_matching;

// ---------------------------------------------------------------------------
// Tokens.

enum class tok {
  ident, string, number, duration,
  lbrace, rbrace, lparen, rparen, lbracket, rbracket, comma, colon,
  assign, eqeq, ne, re, nre, gt, ge, lt, le,
  plus, minus, star, slash, percent, caret,
  other, end
};

struct token {
  tok kind = tok::end;
  std::string text;  // identifier name, string contents, number or duration text
  double number = 0;
  std::int64_t ms = 0;  // duration
  std::size_t column = 1;
};

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }
bool digit(char c) { return c >= '0' && c <= '9'; }

struct lex_failure {
  parse_error error;
};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// A duration as Prometheus reads one: units y w d h m s ms, each at most
// once and largest first ("1h30m"); nullopt when it is not one.
std::optional<std::int64_t> parse_duration(std::string_view s) {
  static constexpr std::pair<std::string_view, std::int64_t> units[] = {
      {"y", 365LL * 24 * 3600 * 1000}, {"w", 7LL * 24 * 3600 * 1000}, {"d", 24LL * 3600 * 1000},
      {"h", 3600LL * 1000},            {"m", 60LL * 1000},            {"s", 1000},
      {"ms", 1}};
  std::int64_t total = 0;
  std::size_t next_unit = 0, i = 0;
  if (s.empty()) return std::nullopt;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && digit(s[j])) ++j;
    if (j == i) return std::nullopt;
    std::int64_t n = 0;
    if (std::from_chars(s.data() + i, s.data() + j, n).ec != std::errc()) return std::nullopt;
    std::size_t k = j;
    while (k < s.size() && !digit(s[k])) ++k;
    const auto unit = s.substr(j, k - j);
    std::size_t u = next_unit;
    while (u < std::size(units) && units[u].first != unit) ++u;
    if (u == std::size(units)) return std::nullopt;
    if (n > std::numeric_limits<std::int64_t>::max() / units[u].second - total / units[u].second - 1)
      return std::nullopt;
    total += n * units[u].second;
    next_unit = u + 1;
    i = k;
  }
  return total;
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
    if (c == '#') {  // a comment, to the end of the line
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    token t;
    t.column = i + 1;
    if (ident_start(c)) {
      std::size_t j = i;
      while (j < s.size() && ident_char(s[j])) ++j;
      t.text = std::string(s.substr(i, j - i));
      // Inf and NaN are numbers in PromQL, in any case.
      if (equals_ignoring_case(t.text, "inf") || equals_ignoring_case(t.text, "nan")) {
        t.kind = tok::number;
        t.number = equals_ignoring_case(t.text, "inf") ? std::numeric_limits<double>::infinity()
                                                       : std::numeric_limits<double>::quiet_NaN();
      } else {
        t.kind = tok::ident;
      }
      i = j;
    } else if (digit(c) || (c == '.' && i + 1 < s.size() && digit(s[i + 1]))) {
      std::size_t j = i;
      if (c == '0' && j + 1 < s.size() && (s[j + 1] == 'x' || s[j + 1] == 'X')) {
        j += 2;
        while (j < s.size() && std::isxdigit(static_cast<unsigned char>(s[j]))) ++j;
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(s.data() + i + 2, s.data() + j, v, 16);
        if (ec != std::errc() || end != s.data() + j) fail(i, "\"" + std::string(s.substr(i, j - i)) + "\" is not a number");
        t.kind = tok::number;
        t.number = static_cast<double>(v);
      } else {
        while (j < s.size() && digit(s[j])) ++j;
        // Digits and a unit: a duration ("5m", "1h30m").
        if (j < s.size() && j > i && c != '.' && (s[j] == 's' || s[j] == 'm' || s[j] == 'h' || s[j] == 'd' ||
                                                    s[j] == 'w' || s[j] == 'y')) {
          while (j < s.size() && (digit(s[j]) || ident_char(s[j]))) ++j;
          const auto text = s.substr(i, j - i);
          const auto ms = parse_duration(text);
          if (!ms) fail(i, "\"" + std::string(text) + "\" is not a duration (units y, w, d, h, m, s, ms, largest first)");
          t.kind = tok::duration;
          t.ms = *ms;
          t.text = std::string(text);
          i = j;
          out.push_back(std::move(t));
          continue;
        }
        if (j < s.size() && s[j] == '.') {
          ++j;
          while (j < s.size() && digit(s[j])) ++j;
        }
        if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
          std::size_t k = j + 1;
          if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
          if (k < s.size() && digit(s[k])) {
            while (k < s.size() && digit(s[k])) ++k;
            j = k;
          }
        }
        const auto [end, ec] = std::from_chars(s.data() + i, s.data() + j, t.number);
        if ((ec != std::errc() && ec != std::errc::result_out_of_range) || end != s.data() + j)
          fail(i, "\"" + std::string(s.substr(i, j - i)) + "\" is not a number");
        if (ec == std::errc::result_out_of_range) {  // as Go's ParseFloat: ±Inf or 0
          const bool tiny = s.substr(i, j - i).find_first_of("123456789") != std::string_view::npos &&
                            s.substr(i, j - i).find("e-") != std::string_view::npos;
          t.number = tiny ? 0 : std::numeric_limits<double>::infinity();
        }
        t.kind = tok::number;
      }
      if (j < s.size() && ident_char(s[j])) fail(i, "\"" + std::string(s.substr(i, j - i + 1)) + "\" is not a number");
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else if (c == '"' || c == '\'' || c == '`') {
      t.kind = tok::string;
      try {
        i = read_promql_string(s, i, t.text);
      } catch (const promql_string_error& e) {
        throw lex_failure{{e.column, e.message}};
      }
    } else {
      struct symbol {
        std::string_view text;
        tok kind;
      };
      static constexpr symbol symbols[] = {
          {"=~", tok::re}, {"==", tok::eqeq}, {"!=", tok::ne}, {"!~", tok::nre}, {">=", tok::ge}, {"<=", tok::le},
          {"{", tok::lbrace}, {"}", tok::rbrace}, {"(", tok::lparen}, {")", tok::rparen}, {"[", tok::lbracket},
          {"]", tok::rbracket}, {",", tok::comma}, {":", tok::colon}, {"=", tok::assign}, {">", tok::gt},
          {"<", tok::lt}, {"+", tok::plus}, {"-", tok::minus}, {"*", tok::star}, {"/", tok::slash},
          {"%", tok::percent}, {"^", tok::caret}};
      t.kind = tok::other;
      for (const auto& sym : symbols) {
        if (s.substr(i, sym.text.size()) == sym.text) {
          t.kind = sym.kind;
          t.text = std::string(sym.text);
          i += sym.text.size();
          break;
        }
      }
      if (t.kind == tok::other) {  // left for the parser, which knows what was expected there
        t.text = std::string(1, c);
        ++i;
      }
    }
    out.push_back(std::move(t));
  }
  token end;
  end.column = s.size() + 1;
  out.push_back(end);
  return out;
}

// ---------------------------------------------------------------------------
// Printing.

std::string labels_list(const std::vector<std::string>& l) {
  std::string t;
  for (std::size_t i = 0; i < l.size(); ++i) t += (i ? ", " : "") + l[i];
  return t;
}

std::string aggregation_name(aggregation a) {
  static constexpr const char* names[] = {"sum", "min", "max", "avg", "count", "group", "topk", "bottomk"};
  return names[static_cast<int>(a)];
}

std::string node_text(const node& n) {
  switch (n.what) {
    case node::kind::number: return number_text(n.number);
    case node::kind::selector:
    case node::kind::matrix: {
      std::string t = n.selector->name;
      if (!n.selector->matchers.empty()) {
        t += "{";
        for (std::size_t i = 0; i < n.selector->matchers.size(); ++i)
          t += (i ? ", " : "") + n.selector->matchers[i].text();
        t += "}";
      }
      if (n.what == node::kind::matrix) t += "[" + duration_text(n.range_ms) + "]";
      if (n.offset_ms != 0) t += " offset " + duration_text(n.offset_ms);
      return t;
    }
    case node::kind::call: {
      std::string t = std::string(n.function->name) + "(";
      for (std::size_t i = 0; i < n.args.size(); ++i) t += (i ? ", " : "") + node_text(*n.args[i]);
      return t + ")";
    }
    case node::kind::aggregate: {
      std::string t = aggregation_name(n.aggregate_op);
      if (n.without)
        t += " without (" + labels_list(n.grouping) + ") ";
      else if (n.grouping_written && !n.grouping.empty())
        t += " by (" + labels_list(n.grouping) + ") ";
      t += "(";
      for (std::size_t i = 0; i < n.args.size(); ++i) t += (i ? ", " : "") + node_text(*n.args[i]);
      return t + ")";
    }
    case node::kind::binary: {
      std::string t = node_text(*n.args[0]) + " " + std::string(promql::binop_text(n.op));
      if (n.return_bool) t += " bool";
      const auto& m = n.matching;
      if (m.written) t += (m.on ? " on(" : " ignoring(") + labels_list(m.labels) + ")";
      if (m.cardinality == vector_matching::card::many_to_one || m.cardinality == vector_matching::card::one_to_many) {
        t += m.cardinality == vector_matching::card::many_to_one ? " group_left" : " group_right";
        if (!m.include.empty()) t += "(" + labels_list(m.include) + ")";
      }
      return t + " " + node_text(*n.args[1]);
    }
    case node::kind::unary: return (n.negate ? "-" : "+") + node_text(*n.args[0]);
    case node::kind::paren: return "(" + node_text(*n.args[0]) + ")";
  }
  return {};
}

// ---------------------------------------------------------------------------
// Parsing.

struct parse_failure {
  parse_error error;
};

// The parser and every walk over the tree (evaluation, printing, the
// destructor) recurse: these limits keep a hostile rule from overflowing
// the stack.
constexpr std::size_t max_nesting = 64;     // parentheses, calls and aggregations inside each other
constexpr std::size_t max_operators = 256;  // binary and unary operators in one rule

constexpr std::string_view keywords[] = {"and", "or", "unless", "by", "without", "on", "ignoring",
                                         "group_left", "group_right", "bool", "offset"};

std::optional<aggregation> aggregation_named(std::string_view s) {
  static constexpr std::pair<std::string_view, aggregation> all[] = {
      {"sum", aggregation::sum},     {"min", aggregation::min},   {"max", aggregation::max},
      {"avg", aggregation::avg},     {"count", aggregation::count}, {"group", aggregation::group},
      {"topk", aggregation::topk},   {"bottomk", aggregation::bottomk}};
  for (const auto& [name, a] : all)
    if (name == s) return a;
  return std::nullopt;
}

class parser {
public:
  explicit parser(std::vector<token> tokens) : t_(std::move(tokens)) {}

  std::unique_ptr<node> parse() {
    auto e = expression(0);
    if (peek().kind != tok::end) fail(peek(), "unexpected " + describe(peek()) + "; expected an operator or the end");
    if (e->result == type::matrix)
      fail_at(e->column, "a rule gives an instant vector or a scalar, not a range vector; apply a function such as "
                         "rate() or max_over_time() to it");
    return e;
  }

private:
  const token& peek(std::size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const token& next() { return t_[i_++]; }
  bool keyword(std::string_view word) const { return peek().kind == tok::ident && peek().text == word; }

  [[noreturn]] static void fail(const token& at, std::string message) {
    throw parse_failure{{at.column, std::move(message)}};
  }
  [[noreturn]] static void fail_at(std::size_t column, std::string message) {
    throw parse_failure{{column, std::move(message)}};
  }

  static std::string describe(const token& t) {
    switch (t.kind) {
      case tok::end: return "end of expression";
      case tok::ident: return "\"" + t.text + "\"";
      case tok::number: return "number " + t.text;
      case tok::duration: return "duration " + t.text;
      case tok::string: return "string " + promql_quote(t.text);
      default: return "\"" + t.text + "\"";
    }
  }

  void count_operator(const token& at) {
    if (++operators_ > max_operators)
      fail(at, "the expression has more than " + std::to_string(max_operators) +
                   " operators; split it into several rules");
  }

  struct nesting_guard {
    parser& p;
    nesting_guard(parser& owner, const token& at) : p(owner) {
      if (++p.nesting_ > max_nesting)
        fail(at, "expressions nested deeper than " + std::to_string(max_nesting) + " levels");
    }
    ~nesting_guard() { --p.nesting_; }
  };

  // The binary operator at the current token and its precedence (Prometheus:
  // or < and unless < comparisons < + - < * / % < ^).
  std::optional<std::pair<binop, int>> peek_binop() const {
    const token& t = peek();
    switch (t.kind) {
      case tok::plus: return std::pair{binop::add, 4};
      case tok::minus: return std::pair{binop::sub, 4};
      case tok::star: return std::pair{binop::mul, 5};
      case tok::slash: return std::pair{binop::div, 5};
      case tok::percent: return std::pair{binop::mod, 5};
      case tok::caret: return std::pair{binop::pow, 6};
      case tok::eqeq: return std::pair{binop::eq, 3};
      case tok::ne: return std::pair{binop::ne, 3};
      case tok::gt: return std::pair{binop::gt, 3};
      case tok::lt: return std::pair{binop::lt, 3};
      case tok::ge: return std::pair{binop::ge, 3};
      case tok::le: return std::pair{binop::le, 3};
      case tok::ident:
        if (t.text == "and") return std::pair{binop::and_, 2};
        if (t.text == "unless") return std::pair{binop::unless, 2};
        if (t.text == "or") return std::pair{binop::or_, 1};
        return std::nullopt;
      default: return std::nullopt;
    }
  }

  std::unique_ptr<node> expression(int min_precedence) {
    auto left = unary();
    for (;;) {
      if (peek().kind == tok::assign) fail(peek(), "use == to compare (= is for label matchers)");
      const auto op = peek_binop();
      if (!op || op->second < min_precedence) return left;
      const token& at = next();
      count_operator(at);
      auto n = std::make_unique<node>();
      n->what = node::kind::binary;
      n->op = op->first;
      n->column = left->column;
      if (keyword("bool")) {
        if (!promql::is_comparison(n->op)) fail(peek(), "bool modifier can only be used on comparison operators");
        next();
        n->return_bool = true;
      }
      read_matching(*n);
      // ^ is right-associative; the others are left-associative.
      auto right = expression(op->first == binop::pow ? op->second : op->second + 1);
      n->args.push_back(std::move(left));
      n->args.push_back(std::move(right));
      check_binary(*n, at);
      left = std::move(n);
    }
  }

  // on(…)/ignoring(…) and group_left(…)/group_right(…) after an operator.
  void read_matching(node& n) {
    auto& m = n.matching;
    if (promql::is_set_operator(n.op)) m.cardinality = vector_matching::card::many_to_many;
    if (keyword("on") || keyword("ignoring")) {
      m.on = next().text == "on";
      m.written = true;
      m.labels = label_list();
    }
    if (keyword("group_left") || keyword("group_right")) {
      const token& at = next();
      if (promql::is_set_operator(n.op)) fail(at, "no grouping allowed for \"" + std::string(promql::binop_text(n.op)) + "\" operation");
      if (!m.written) fail(at, "group_left and group_right need on(…) or ignoring(…) before them");
      m.cardinality = at.text == "group_left" ? vector_matching::card::many_to_one : vector_matching::card::one_to_many;
      if (peek().kind == tok::lparen) m.include = label_list();
      for (const auto& l : m.include)
        if (m.on && std::find(m.labels.begin(), m.labels.end(), l) != m.labels.end())
          fail(at, "label \"" + l + "\" must not occur in ON and GROUP clause at once");
    }
  }

  std::vector<std::string> label_list() {
    if (peek().kind != tok::lparen) fail(peek(), "expected \"(\" and label names, got " + describe(peek()));
    next();
    std::vector<std::string> out;
    while (peek().kind != tok::rparen) {
      if (peek().kind != tok::ident) fail(peek(), "expected a label name, got " + describe(peek()));
      out.push_back(next().text);
      if (peek().kind == tok::comma)
        next();
      else if (peek().kind != tok::rparen)
        fail(peek(), "expected \",\" or \")\", got " + describe(peek()));
    }
    next();
    return out;
  }

  void check_binary(node& n, const token& at) {
    const type l = n.args[0]->result, r = n.args[1]->result;
    if (l == type::matrix || r == type::matrix)
      fail(at, "binary expression must contain only scalar and instant vector types (apply a function to the range)");
    const bool vectors = l == type::vector && r == type::vector;
    if (promql::is_set_operator(n.op) && !vectors)
      fail(at, "set operator \"" + std::string(promql::binop_text(n.op)) + "\" not allowed in binary scalar expression");
    if (!vectors && n.matching.written) fail(at, "vector matching only allowed between instant vectors");
    if (l == type::scalar && r == type::scalar && promql::is_comparison(n.op) && !n.return_bool)
      fail(at, "comparisons between scalars must use BOOL modifier");
    n.result = l == type::vector || r == type::vector ? type::vector : type::scalar;
  }

  std::unique_ptr<node> unary() {
    if (peek().kind == tok::minus || peek().kind == tok::plus) {
      const token& at = next();
      count_operator(at);
      const bool negate = at.kind == tok::minus;
      auto operand = expression(6);  // binds like *, but ^ binds tighter: -a^b is -(a^b)
      if (operand->result == type::matrix) fail(at, "unary expression only allowed on expressions of type scalar or instant vector");
      if (operand->what == node::kind::number) {  // as Prometheus folds it
        if (negate) operand->number = -operand->number;
        operand->column = at.column;
        return operand;
      }
      auto n = std::make_unique<node>();
      n->what = node::kind::unary;
      n->negate = negate;
      n->column = at.column;
      n->result = operand->result;
      n->args.push_back(std::move(operand));
      return n;
    }
    return postfix(primary());
  }

  // A range "[5m]" and "offset 5m" after a selector.
  std::unique_ptr<node> postfix(std::unique_ptr<node> n) {
    if (peek().kind == tok::lbracket) {
      const token& at = next();
      if (n->what != node::kind::selector || n->offset_ms != 0)
        fail(at, "ranges only allowed for vector selectors (subqueries are not part of the rule language)");
      if (peek().kind != tok::duration) fail(peek(), "expected a duration such as 5m, got " + describe(peek()));
      const token& d = next();
      if (d.ms <= 0) fail(d, "a range must be longer than 0");
      if (peek().kind == tok::colon) fail(peek(), "subqueries are not part of the rule language");
      if (peek().kind != tok::rbracket) fail(peek(), "expected \"]\", got " + describe(peek()));
      next();
      n->what = node::kind::matrix;
      n->range_ms = d.ms;
      n->result = type::matrix;
    }
    if (keyword("offset")) {
      const token& at = next();
      if (n->what != node::kind::selector && n->what != node::kind::matrix)
        fail(at, "offset modifier must be preceded by an instant vector selector or range vector selector");
      if (n->offset_ms != 0) fail(at, "offset may not be set multiple times");
      if (peek().kind == tok::minus) fail(peek(), "negative offsets are not part of the rule language");
      if (peek().kind != tok::duration) fail(peek(), "expected a duration such as 5m after offset, got " + describe(peek()));
      n->offset_ms = next().ms;
    }
    return n;
  }

  std::unique_ptr<node> primary() {
    const token& t = peek();
    auto n = std::make_unique<node>();
    n->column = t.column;
    switch (t.kind) {
      case tok::number:
        n->what = node::kind::number;
        n->number = next().number;
        return n;
      case tok::lparen: {
        nesting_guard guard(*this, t);
        next();
        auto inner = expression(0);
        if (peek().kind != tok::rparen) fail(peek(), "expected \")\", got " + describe(peek()));
        next();
        n->what = node::kind::paren;
        n->result = inner->result;
        n->args.push_back(std::move(inner));
        return n;
      }
      case tok::lbrace:
        fail(t, "a selector needs a metric name before \"{\" (rules name the metrics they read)");
      case tok::string: fail(t, "string literals are not part of the rule language");
      case tok::duration: fail(t, "a duration belongs in a range selector [5m] or after offset");
      case tok::ident: break;
      default: fail(t, "expected an expression, got " + describe(t));
    }
    for (const auto& k : keywords)
      if (t.text == k) fail(t, "expected an expression, got " + describe(t));
    if (const auto a = aggregation_named(t.text);
        a && (peek(1).kind == tok::lparen || (peek(1).kind == tok::ident && (peek(1).text == "by" || peek(1).text == "without"))))
      return aggregate(std::move(n), *a);
    if (peek(1).kind == tok::lparen) return call(std::move(n));
    return selector(std::move(n));
  }

  std::unique_ptr<node> selector(std::unique_ptr<node> n) {
    n->what = node::kind::selector;
    n->result = type::vector;
    n->selector = std::make_shared<selector_spec>();
    n->selector->name = next().text;
    if (peek().kind != tok::lbrace) return n;
    next();
    while (peek().kind != tok::rbrace) {
      if (peek().kind != tok::ident) fail(peek(), "expected a label name, got " + describe(peek()));
      matcher m;
      m.label = next().text;
      switch (peek().kind) {
        case tok::assign: m.kind = matcher::op::eq; break;
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
      n->selector->matchers.push_back(std::move(m));
      if (peek().kind == tok::comma) {
        next();
      } else if (peek().kind != tok::rbrace) {
        fail(peek(), "expected \",\" or \"}\", got " + describe(peek()));
      }
    }
    next();
    return n;
  }

  std::unique_ptr<node> call(std::unique_ptr<node> n) {
    const token& name = next();
    nesting_guard guard(*this, name);
    const auto* f = promql::find_function(name.text);
    if (f == nullptr) {
      std::vector<std::string> known;
      for (const auto& x : promql::functions()) known.emplace_back(x.name);
      for (const char* a : {"sum", "min", "max", "avg", "count", "group", "topk", "bottomk"}) known.emplace_back(a);
      std::string message = "unknown function \"" + name.text + "\"";
      const auto suggestion = did_you_mean(name.text, known);
      if (!suggestion.empty()) message += "; did you mean " + suggestion + "?";
      fail(name, message);
    }
    n->what = node::kind::call;
    n->function = f;
    n->result = f->result;
    next();  // (
    while (peek().kind != tok::rparen) {
      n->args.push_back(expression(0));
      if (peek().kind == tok::comma)
        next();
      else if (peek().kind != tok::rparen)
        fail(peek(), "expected \",\" or \")\", got " + describe(peek()));
    }
    const token& close = next();
    const std::size_t most = f->args.size(), least = most - f->optional;
    if (n->args.size() < least || n->args.size() > most) {
      const std::string count = least == most ? std::to_string(most) : std::to_string(least) + " or " + std::to_string(most);
      fail(close, "expected " + count + " argument(s) in call to \"" + name.text + "\", got " + std::to_string(n->args.size()));
    }
    for (std::size_t i = 0; i < n->args.size(); ++i) {
      const node& a = *n->args[i];
      if (a.result == f->args[i]) continue;
      std::string message = "expected type " + std::string(promql::type_name(f->args[i])) + " in call to function \"" +
                            name.text + "\", got " + std::string(promql::type_name(a.result));
      if (f->args[i] == type::matrix && a.what == node::kind::selector)
        message += " (add a range: " + name.text + "(" + node_text(a) + "[5m]))";
      fail_at(a.column, message);
    }
    return n;
  }

  std::unique_ptr<node> aggregate(std::unique_ptr<node> n, aggregation a) {
    const token& name = next();
    nesting_guard guard(*this, name);
    n->what = node::kind::aggregate;
    n->aggregate_op = a;
    n->result = type::vector;
    auto grouping = [&] {
      if (keyword("by") || keyword("without")) {
        n->without = next().text == "without";
        n->grouping_written = true;
        n->grouping = label_list();
        return true;
      }
      return false;
    };
    const bool before = grouping();
    if (peek().kind != tok::lparen) fail(peek(), "expected \"(\" after " + name.text + ", got " + describe(peek()));
    next();
    const bool with_param = a == aggregation::topk || a == aggregation::bottomk;
    if (with_param) {
      auto param = expression(0);
      if (param->result != type::scalar)
        fail_at(param->column, "expected type scalar in aggregation parameter, got " + std::string(promql::type_name(param->result)));
      n->args.push_back(std::move(param));
      if (peek().kind != tok::comma) fail(peek(), name.text + " takes a number and an expression: " + name.text + "(3, …)");
      next();
    }
    auto operand = expression(0);
    if (operand->result != type::vector)
      fail_at(operand->column, "expected type instant vector in aggregation expression, got " +
                                   std::string(promql::type_name(operand->result)));
    n->args.push_back(std::move(operand));
    if (peek().kind != tok::rparen) fail(peek(), "expected \")\", got " + describe(peek()));
    next();
    if (!before) grouping();
    return n;
  }

  std::vector<token> t_;
  std::size_t i_ = 0;
  std::size_t nesting_ = 0;
  std::size_t operators_ = 0;
};

// ---------------------------------------------------------------------------

void walk(const node& n, const std::function<void(const node&)>& fn) {
  fn(n);
  for (const auto& a : n.args) walk(*a, fn);
}

class promql_expr final : public expr {
public:
  explicit promql_expr(std::unique_ptr<node> root) : root_(std::move(root)) {}

  eval_result evaluate(const series_table& now, const history* past, std::int64_t at_ms) const override {
    eval_result r;
    promql::eval_context ctx{now, past, at_ms};
    try {
      if (root_->result == type::scalar) {
        r.matches.push_back({"", {}, promql::eval_scalar(*root_, ctx)});
      } else {
        for (auto& s : promql::eval_vector(*root_, ctx)) {
          series& out = r.matches.emplace_back();
          for (const auto& [name, value] : s.labels) {
            if (name == metric_name_label)
              out.name = value;
            else
              out.label_values.emplace_hint(out.label_values.end(), name, value);
          }
          out.value = s.value;
        }
      }
    } catch (const promql::eval_failure& f) {
      r.matches.clear();
      r.error = f.message;
    }
    if (past != nullptr) {
      walk(*root_, [&](const node& n) {
        if (n.selector && (n.what == node::kind::matrix || n.offset_ms != 0) && past->truncated(n.selector.get()))
          r.history_incomplete = true;
      });
    }
    return r;
  }

  void metric_names(std::set<std::string>& out) const override {
    walk(*root_, [&](const node& n) {
      if (n.selector) out.insert(n.selector->name);
    });
  }

  void history_needs(std::vector<history_need>& out) const override {
    walk(*root_, [&](const node& n) {
      if (n.what == node::kind::matrix)
        out.push_back({n.selector.get(), n.range_ms + n.offset_ms});
      else if (n.what == node::kind::selector && n.offset_ms != 0)
        out.push_back({n.selector.get(), n.offset_ms + lookback_ms});
    });
  }

  std::string text() const override { return node_text(*root_); }

private:
  std::unique_ptr<node> root_;
};

}  // namespace

std::vector<series> expr::eval(const std::vector<series>& all) const {
  series_table table;
  for (const auto& s : all) table.add(s.name, s.label_values, s.value);
  auto r = evaluate(table, nullptr, 0);
  return std::move(r.matches);
}

parse_result parse_expr(std::string_view text) {
  parse_result r;
  try {
    parser p(lex(text));
    r.value = std::make_unique<promql_expr>(p.parse());
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

std::string duration_text(std::int64_t ms) {
  if (ms == 0) return "0s";
  static constexpr std::pair<const char*, std::int64_t> units[] = {
      {"y", 365LL * 24 * 3600 * 1000}, {"w", 7LL * 24 * 3600 * 1000}, {"d", 24LL * 3600 * 1000},
      {"h", 3600LL * 1000},            {"m", 60LL * 1000},            {"s", 1000},
      {"ms", 1}};
  std::string t;
  for (const auto& [unit, size] : units) {
    if (ms >= size) {
      t += std::to_string(ms / size) + unit;
      ms %= size;
    }
  }
  return t;
}

}  // namespace vitals::alerts
