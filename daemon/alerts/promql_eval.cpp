// Evaluating a parsed rule expression at one time, with Prometheus 2.42's
// semantics: which labels an operation keeps, how vectors match, how
// counters reset and rates extrapolate, what topk keeps on a tie. The
// promtool parity test (tests/integration/promql_promtool_test.cpp) holds
// this file to it.

#include "daemon/alerts/promql.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace vitals::alerts::promql {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

label_set without_name(label_set l) {
  std::erase_if(l, [](const label& x) { return x.name == metric_name_label; });
  return l;
}

void set_label(label_set& l, std::string_view name, std::string_view value) {
  auto it = std::lower_bound(l.begin(), l.end(), name, [](const label& x, std::string_view n) { return x.name < n; });
  if (it != l.end() && it->name == name) {
    if (value.empty())
      l.erase(it);
    else
      it->value = value;
  } else if (!value.empty()) {
    l.insert(it, {name, value});
  }
}

bool listed(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string labels_text(const label_set& l) {
  std::string t = "{";
  for (std::size_t i = 0; i < l.size(); ++i)
    t += (i ? ", " : "") + std::string(l[i].name) + "=\"" + std::string(l[i].value) + "\"";
  return t + "}";
}

void check_unique(const std::vector<sample>& v) {
  if (v.size() < 2) return;
  std::unordered_set<std::string> seen;
  for (const auto& s : v)
    if (!seen.insert(key_of(s.labels)).second)
      throw eval_failure{"vector cannot contain metrics with the same labelset " + labels_text(s.labels)};
}

const node& unwrap(const node& n) { return n.what == node::kind::paren ? unwrap(*n.args[0]) : n; }

// ---------------------------------------------------------------------------
// Selectors.

std::vector<sample> select(const node& n, const eval_context& ctx) {
  std::vector<sample> out;
  const selector_spec& sel = *n.selector;
  if (n.offset_ms == 0) {
    for (const sample& s : ctx.now.named(sel.name))
      if (sel.matches(s.labels)) out.push_back(s);
  } else if (ctx.past != nullptr) {
    ctx.past->at(sel, ctx.at_ms - n.offset_ms, [&](const label_set& l, double v) { out.push_back({l, v}); });
  }
  return out;
}

// The labels absent() and absent_over_time() give: the selector's
// equality matchers, a label matched twice or otherwise left out.
label_set absent_labels(const node& arg) {
  const node& n = unwrap(arg);
  label_set l;
  if (n.what != node::kind::selector && n.what != node::kind::matrix) return l;
  std::set<std::string_view> seen;
  for (const auto& m : n.selector->matchers) {
    if (m.label == metric_name_label) continue;
    if (m.kind == matcher::op::eq && !seen.contains(m.label)) {
      set_label(l, m.label, m.value);
      seen.insert(m.label);
    } else {
      set_label(l, m.label, {});
    }
  }
  return l;
}

// ---------------------------------------------------------------------------
// Functions over a range.

double kahan_sum(std::span<const point> p) {
  double sum = 0, c = 0;
  for (const auto& x : p) {
    const double t = sum + x.v;
    if (std::fabs(sum) >= std::fabs(x.v))
      c += (sum - t) + x.v;
    else
      c += (x.v - t) + sum;
    sum = t;
  }
  return std::isinf(sum) ? sum : sum + c;
}

struct kahan {
  double sum = 0, c = 0;
  void add(double v) {
    const double t = sum + v;
    if (std::fabs(sum) >= std::fabs(v))
      c += (sum - t) + v;
    else
      c += (v - t) + sum;
    sum = t;
  }
};

double avg_over(std::span<const point> p) {
  double mean = 0, count = 0;
  kahan k;
  for (const auto& x : p) {
    count += 1;
    if (std::isinf(k.sum)) {
      if (std::isinf(x.v) && (k.sum > 0) == (x.v > 0)) continue;
      if (!std::isinf(x.v) && !std::isnan(x.v)) continue;
    }
    k.add(x.v / count - k.sum / count);
  }
  mean = k.sum;
  return std::isinf(mean) ? mean : mean + k.c;
}

// Least squares over the points, x in seconds from `intercept_ms`.
std::pair<double, double> linear_regression(std::span<const point> p, std::int64_t intercept_ms) {
  double n = 0;
  kahan x_sum, y_sum, xy_sum, x2_sum;
  const double init = p[0].v;
  bool constant = true;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (constant && i > 0 && p[i].v != init) constant = false;
    n += 1;
    const double x = static_cast<double>(p[i].t - intercept_ms) / 1e3;
    x_sum.add(x);
    y_sum.add(p[i].v);
    xy_sum.add(x * p[i].v);
    x2_sum.add(x * x);
  }
  if (constant) {
    if (std::isinf(init)) return {nan, nan};
    return {0, init};
  }
  const double sx = x_sum.sum + x_sum.c, sy = y_sum.sum + y_sum.c, sxy = xy_sum.sum + xy_sum.c,
               sx2 = x2_sum.sum + x2_sum.c;
  const double cov = sxy - sx * sy / n;
  const double var = sx2 - sx * sx / n;
  const double slope = cov / var;
  return {slope, sy / n - slope * sx / n};
}

std::optional<double> extrapolated_rate(std::span<const point> p, std::int64_t range_start, std::int64_t range_end,
                                        std::int64_t range_ms, bool counter, bool per_second) {
  if (p.size() < 2) return std::nullopt;
  double result = p.back().v - p.front().v;
  if (counter) {
    double prev = p.front().v;
    for (const auto& x : p.subspan(1)) {
      if (x.v < prev) result += prev;
      prev = x.v;
    }
  }
  double to_start = static_cast<double>(p.front().t - range_start) / 1000;
  const double to_end = static_cast<double>(range_end - p.back().t) / 1000;
  const double sampled = static_cast<double>(p.back().t - p.front().t) / 1000;
  const double average = sampled / static_cast<double>(p.size() - 1);
  if (counter && result > 0 && p.front().v >= 0) {
    const double to_zero = sampled * (p.front().v / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  const double threshold = average * 1.1;
  double interval = sampled;
  interval += to_start < threshold ? to_start : average / 2;
  interval += to_end < threshold ? to_end : average / 2;
  double factor = interval / sampled;
  if (per_second) factor /= static_cast<double>(range_ms) / 1000;
  return result * factor;
}

std::optional<double> instant_rate(std::span<const point> p, bool per_second) {
  if (p.size() < 2) return std::nullopt;
  const point last = p[p.size() - 1], prev = p[p.size() - 2];
  double result = per_second && last.v < prev.v ? last.v : last.v - prev.v;
  const auto interval = last.t - prev.t;
  if (interval == 0) return std::nullopt;
  if (per_second) result /= static_cast<double>(interval) / 1000;
  return result;
}

std::optional<double> over_range(std::string_view fn, std::span<const point> p, const node& m,
                                 const std::vector<double>& scalars, const eval_context& ctx) {
  const std::int64_t end = ctx.at_ms - m.offset_ms, start = end - m.range_ms;
  if (fn == "rate") return extrapolated_rate(p, start, end, m.range_ms, true, true);
  if (fn == "increase") return extrapolated_rate(p, start, end, m.range_ms, true, false);
  if (fn == "delta") return extrapolated_rate(p, start, end, m.range_ms, false, false);
  if (fn == "irate") return instant_rate(p, true);
  if (fn == "idelta") return instant_rate(p, false);
  if (fn == "deriv") {
    if (p.size() < 2) return std::nullopt;
    return linear_regression(p, p[0].t).first;
  }
  if (fn == "predict_linear") {
    if (p.size() < 2) return std::nullopt;
    const auto [slope, intercept] = linear_regression(p, ctx.at_ms);
    return slope * scalars[1] + intercept;
  }
  if (fn == "changes" || fn == "resets") {
    int n = 0;
    double prev = p[0].v;
    for (const auto& x : p.subspan(1)) {
      if (fn == "changes" ? x.v != prev && !(std::isnan(x.v) && std::isnan(prev)) : x.v < prev) ++n;
      prev = x.v;
    }
    return n;
  }
  if (fn == "avg_over_time") return avg_over(p);
  if (fn == "sum_over_time") return kahan_sum(p);
  if (fn == "count_over_time" || fn == "absent_over_time")
    return fn == "count_over_time" ? static_cast<double>(p.size()) : 1.0;
  if (fn == "last_over_time") return p.back().v;
  if (fn == "min_over_time" || fn == "max_over_time") {
    const bool max = fn == "max_over_time";
    double v = p[0].v;
    for (const auto& x : p)
      if ((max ? x.v > v : x.v < v) || std::isnan(v)) v = x.v;
    return v;
  }
  throw eval_failure{"no range function " + std::string(fn)};
}

std::vector<sample> call_over_range(const node& call, const eval_context& ctx) {
  const std::string_view fn = call.function->name;
  std::vector<double> scalars(call.args.size());
  std::size_t matrix_arg = 0;
  for (std::size_t i = 0; i < call.args.size(); ++i) {
    if (call.args[i]->result == type::matrix)
      matrix_arg = i;
    else
      scalars[i] = eval_scalar(*call.args[i], ctx);
  }
  const node& m = unwrap(*call.args[matrix_arg]);
  std::vector<std::pair<label_set, sample>> found;  // input labels, result
  if (ctx.past != nullptr) {
    const std::int64_t end = ctx.at_ms - m.offset_ms;
    ctx.past->range(*m.selector, end - m.range_ms, end, [&](const label_set& l, std::span<const point> p) {
      if (p.empty()) return;
      if (const auto v = over_range(fn, p, m, scalars, ctx))
        found.push_back({l, {fn == "last_over_time" ? l : without_name(l), *v}});
    });
  }
  if (fn == "absent_over_time") {
    if (!found.empty()) return {};
    return {{absent_labels(m), 1.0}};
  }
  std::vector<sample> out;
  out.reserve(found.size());
  for (auto& [in, s] : found) out.push_back(std::move(s));
  check_unique(out);
  return out;
}

// ---------------------------------------------------------------------------
// Functions over instant vectors and scalars.

// Go's math.Max and math.Min: NaN when either side is (std::fmax would
// take the other), +0 above -0.
double go_max(double x, double y) {
  if ((std::isinf(x) && x > 0) || (std::isinf(y) && y > 0)) return std::numeric_limits<double>::infinity();
  if (std::isnan(x) || std::isnan(y)) return nan;
  if (x == 0 && x == y) return std::signbit(x) ? y : x;
  return x > y ? x : y;
}
double go_min(double x, double y) {
  if ((std::isinf(x) && x < 0) || (std::isinf(y) && y < 0)) return -std::numeric_limits<double>::infinity();
  if (std::isnan(x) || std::isnan(y)) return nan;
  if (x == 0 && x == y) return std::signbit(x) ? x : y;
  return x < y ? x : y;
}

// Go's strconv.ParseFloat, for a bucket's `le`: decimal, Inf, NaN.
std::optional<double> parse_bound(std::string_view s) {
  const bool plus = !s.empty() && s[0] == '+';
  if (plus) s.remove_prefix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (plus && std::isnan(v)) return std::nullopt;
  return v;
}

struct bucket {
  double upper = 0;
  double count = 0;
};

double bucket_quantile(double q, std::vector<bucket> b) {
  if (std::isnan(q)) return nan;
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  std::sort(b.begin(), b.end(), [](const bucket& x, const bucket& y) { return x.upper < y.upper; });
  if (!std::isinf(b.back().upper) || b.back().upper < 0) return nan;
  // Buckets with the same bound are one.
  std::vector<bucket> merged;
  for (const auto& x : b) {
    if (!merged.empty() && merged.back().upper == x.upper)
      merged.back().count += x.count;
    else
      merged.push_back(x);
  }
  double max = merged[0].count;
  for (std::size_t i = 1; i < merged.size(); ++i) {
    if (merged[i].count > max)
      max = merged[i].count;
    else if (merged[i].count < max)
      merged[i].count = max;
  }
  if (merged.size() < 2) return nan;
  const double observations = merged.back().count;
  if (observations == 0) return nan;
  double rank = q * observations;
  std::size_t i = 0;
  while (i < merged.size() - 1 && !(merged[i].count >= rank)) ++i;
  if (i == merged.size() - 1) return merged[merged.size() - 2].upper;
  if (i == 0 && merged[0].upper <= 0) return merged[0].upper;
  double start = 0, count = merged[i].count;
  const double end = merged[i].upper;
  if (i > 0) {
    start = merged[i - 1].upper;
    count -= merged[i - 1].count;
    rank -= merged[i - 1].count;
  }
  return start + (end - start) * (rank / count);
}

std::vector<sample> histogram_quantile(double q, const std::vector<sample>& in) {
  std::map<std::string, std::pair<label_set, std::vector<bucket>>> groups;
  std::vector<std::string> order;
  for (const auto& s : in) {
    const auto bound = parse_bound(value_of(s.labels, "le"));
    if (!bound) continue;
    label_set key_labels = s.labels;
    set_label(key_labels, "le", {});
    auto key = key_of(key_labels);
    auto [it, inserted] = groups.try_emplace(key);
    if (inserted) {
      it->second.first = without_name(key_labels);
      order.push_back(key);
    }
    it->second.second.push_back({*bound, s.value});
  }
  std::vector<sample> out;
  for (const auto& k : order) {
    auto& [l, buckets] = groups[k];
    out.push_back({l, bucket_quantile(q, buckets)});
  }
  return out;
}

std::vector<sample> call_instant(const node& call, const eval_context& ctx) {
  const std::string_view fn = call.function->name;
  if (fn == "vector") return {{{}, eval_scalar(*call.args[0], ctx)}};
  if (fn == "absent") {
    if (!eval_vector(*call.args[0], ctx).empty()) return {};
    return {{absent_labels(*call.args[0]), 1.0}};
  }
  if (fn == "histogram_quantile") {
    const double q = eval_scalar(*call.args[0], ctx);
    auto out = histogram_quantile(q, eval_vector(*call.args[1], ctx));
    check_unique(out);
    return out;
  }
  std::vector<sample> in = eval_vector(*call.args[0], ctx);
  std::vector<double> scalars;
  for (std::size_t i = 1; i < call.args.size(); ++i) scalars.push_back(eval_scalar(*call.args[i], ctx));
  double lo = 0, hi = 0, to_nearest = 1;
  if (fn == "clamp") {
    lo = scalars[0], hi = scalars[1];
    if (hi < lo) return {};
  }
  if (fn == "round" && !scalars.empty()) to_nearest = scalars[0];
  const double inverse = 1.0 / to_nearest;
  for (auto& s : in) {
    s.labels = without_name(std::move(s.labels));
    const double v = s.value;
    if (fn == "abs") s.value = std::fabs(v);
    else if (fn == "ceil") s.value = std::ceil(v);
    else if (fn == "floor") s.value = std::floor(v);
    else if (fn == "sqrt") s.value = std::sqrt(v);
    else if (fn == "round") s.value = std::floor(v * inverse + 0.5) / inverse;
    else if (fn == "clamp_min") s.value = go_max(scalars[0], v);
    else if (fn == "clamp_max") s.value = go_min(scalars[0], v);
    else if (fn == "clamp") s.value = go_max(lo, go_min(hi, v));
    else throw eval_failure{"no function " + std::string(fn)};
  }
  check_unique(in);
  return in;
}


// ---------------------------------------------------------------------------
// Aggregation.

// A binary heap as Go's container/heap keeps it, as Prometheus's topk and
// bottomk do. Which of tied series they keep depends on the order of their
// input, which in Prometheus is its storage's: a tie may go either way in
// either engine.
template <typename Less>
void heap_up(std::vector<sample>& h, std::size_t j, Less less) {
  while (j > 0) {
    const std::size_t i = (j - 1) / 2;
    if (!less(h[j], h[i])) break;
    std::swap(h[i], h[j]);
    j = i;
  }
}
template <typename Less>
void heap_down(std::vector<sample>& h, std::size_t i, std::size_t n, Less less) {
  for (;;) {
    const std::size_t j1 = 2 * i + 1;
    if (j1 >= n) break;
    std::size_t j = j1;
    if (j1 + 1 < n && less(h[j1 + 1], h[j1])) j = j1 + 1;
    if (!less(h[j], h[i])) break;
    std::swap(h[i], h[j]);
    i = j;
  }
}

std::vector<sample> aggregate(const node& n, const eval_context& ctx) {
  const bool k_based = n.aggregate_op == aggregation::topk || n.aggregate_op == aggregation::bottomk;
  std::int64_t k = 0;
  if (k_based) {
    const double f = eval_scalar(*n.args[0], ctx);
    if (!(f >= -9.223372036854775e18 && f <= 9.223372036854775e18))
      throw eval_failure{"scalar value " + std::to_string(f) + " overflows int64"};
    k = static_cast<std::int64_t>(f);
    if (k < 1) return {};
  }
  const std::vector<sample> in = eval_vector(*n.args.back(), ctx);

  struct group {
    label_set labels;
    double value = 0;
    double mean = 0;
    double count = 0;
    std::vector<sample> heap;
  };
  std::unordered_map<std::string, std::size_t> index;
  std::vector<group> groups;
  const auto top_less = [](const sample& a, const sample& b) { return std::isnan(a.value) || a.value < b.value; };
  const auto bottom_less = [](const sample& a, const sample& b) { return std::isnan(a.value) || a.value > b.value; };

  for (const auto& s : in) {
    label_set g;
    for (const auto& l : s.labels) {
      const bool named = listed(n.grouping, l.name);
      if (n.without ? !named && l.name != metric_name_label : named) g.push_back(l);
    }
    auto [it, inserted] = index.try_emplace(key_of(g), groups.size());
    if (inserted) {
      group& x = groups.emplace_back();
      x.labels = std::move(g);
      x.value = s.value;
      x.mean = s.value;
      x.count = 1;
      if (k_based) x.heap.push_back(s);
      if (n.aggregate_op == aggregation::group) x.value = 1;
      continue;
    }
    group& x = groups[it->second];
    switch (n.aggregate_op) {
      case aggregation::sum: x.value += s.value; break;
      case aggregation::avg:
        x.count += 1;
        if (std::isinf(x.mean)) {
          if (std::isinf(s.value) && (x.mean > 0) == (s.value > 0)) break;
          if (!std::isinf(s.value) && !std::isnan(s.value)) break;
        }
        x.mean += s.value / x.count - x.mean / x.count;
        break;
      case aggregation::max:
        if (x.value < s.value || std::isnan(x.value)) x.value = s.value;
        break;
      case aggregation::min:
        if (x.value > s.value || std::isnan(x.value)) x.value = s.value;
        break;
      case aggregation::count: x.count += 1; break;
      case aggregation::group: break;
      case aggregation::topk:
      case aggregation::bottomk: {
        const bool top = n.aggregate_op == aggregation::topk;
        auto& h = x.heap;
        const bool wanted = static_cast<std::int64_t>(h.size()) < k || std::isnan(h[0].value) ||
                            (top ? h[0].value < s.value : h[0].value > s.value);
        if (!wanted) break;
        if (static_cast<std::int64_t>(h.size()) == k) {
          if (k == 1) {
            h[0] = s;
            break;
          }
          std::swap(h[0], h.back());
          if (top)
            heap_down(h, 0, h.size() - 1, top_less);
          else
            heap_down(h, 0, h.size() - 1, bottom_less);
          h.pop_back();
        }
        h.push_back(s);
        if (top)
          heap_up(h, h.size() - 1, top_less);
        else
          heap_up(h, h.size() - 1, bottom_less);
        break;
      }
    }
  }

  std::vector<sample> out;
  for (auto& x : groups) {
    switch (n.aggregate_op) {
      case aggregation::avg: x.value = x.mean; break;
      case aggregation::count: x.value = x.count; break;
      case aggregation::topk:
      case aggregation::bottomk:
        for (auto& s : x.heap) out.push_back(std::move(s));
        continue;
      default: break;
    }
    out.push_back({std::move(x.labels), x.value});
  }
  check_unique(out);
  return out;
}

// ---------------------------------------------------------------------------
// Binary operations.

std::pair<double, bool> elem(binop op, double l, double r) {
  switch (op) {
    case binop::add: return {l + r, true};
    case binop::sub: return {l - r, true};
    case binop::mul: return {l * r, true};
    case binop::div: return {l / r, true};
    case binop::mod: return {std::fmod(l, r), true};
    case binop::pow: return {std::pow(l, r), true};
    case binop::eq: return {l, l == r};
    case binop::ne: return {l, l != r};
    case binop::gt: return {l, l > r};
    case binop::lt: return {l, l < r};
    case binop::ge: return {l, l >= r};
    case binop::le: return {l, l <= r};
    default: break;
  }
  throw eval_failure{"operator " + std::string(binop_text(op)) + " is not for numbers"};
}

bool drops_name(binop op) { return !is_comparison(op) && !is_set_operator(op); }

std::string signature(const label_set& l, const vector_matching& m) {
  std::string k;
  for (const auto& [name, value] : l) {
    const bool named = listed(m.labels, name);
    if (m.on ? !named : named || name == metric_name_label) continue;
    k.append(name);
    k += '\xff';
    k.append(value);
    k += '\xff';
  }
  return k;
}

label_set result_labels(const label_set& lhs, const label_set& rhs, binop op, const vector_matching& m) {
  label_set out;
  for (const auto& l : lhs) {
    if (drops_name(op) && l.name == metric_name_label) continue;
    if (m.cardinality == vector_matching::card::one_to_one && (m.on ? !listed(m.labels, l.name) : listed(m.labels, l.name)))
      continue;
    out.push_back(l);
  }
  for (const auto& name : m.include) set_label(out, name, value_of(rhs, name));
  return out;
}

std::vector<sample> vector_binop(const node& n, std::vector<sample> lhs, std::vector<sample> rhs) {
  const auto& m = n.matching;
  std::vector<sample> out;
  if (n.op == binop::and_ || n.op == binop::unless) {
    if (lhs.empty() || rhs.empty()) return n.op == binop::and_ ? out : lhs;
    std::unordered_set<std::string> right;
    for (const auto& s : rhs) right.insert(signature(s.labels, m));
    for (auto& s : lhs)
      if (right.contains(signature(s.labels, m)) == (n.op == binop::and_)) out.push_back(std::move(s));
    return out;
  }
  if (n.op == binop::or_) {
    std::unordered_set<std::string> left;
    for (auto& s : lhs) {
      left.insert(signature(s.labels, m));
      out.push_back(std::move(s));
    }
    for (auto& s : rhs)
      if (!left.contains(signature(s.labels, m))) out.push_back(std::move(s));
    return out;
  }
  if (lhs.empty() || rhs.empty()) return out;
  const bool one_to_many = m.cardinality == vector_matching::card::one_to_many;
  if (one_to_many) std::swap(lhs, rhs);
  std::unordered_map<std::string, const sample*> right;
  for (const auto& s : rhs) {
    auto [it, inserted] = right.try_emplace(signature(s.labels, m), &s);
    if (!inserted)
      throw eval_failure{"found duplicate series for the match group on the " +
                         std::string(one_to_many ? "left" : "right") + " hand-side of the operation: [" +
                         labels_text(s.labels) + ", " + labels_text(it->second->labels) +
                         "]; many-to-many matching not allowed: matching labels must be unique on one side"};
  }
  std::unordered_map<std::string, std::unordered_set<std::string>> matched;
  for (const auto& ls : lhs) {
    const auto sig = signature(ls.labels, m);
    const auto found = right.find(sig);
    if (found == right.end()) continue;
    const sample& rs = *found->second;
    double vl = ls.value, vr = rs.value;
    if (one_to_many) std::swap(vl, vr);
    auto [value, keep] = elem(n.op, vl, vr);
    if (n.return_bool)
      value = keep ? 1 : 0;
    else if (!keep)
      continue;
    label_set labels = result_labels(ls.labels, rs.labels, n.op, m);
    if (n.return_bool) labels = without_name(std::move(labels));
    auto [seen, first] = matched.try_emplace(sig);
    if (m.cardinality == vector_matching::card::one_to_one) {
      if (!first)
        throw eval_failure{"multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"};
    } else if (!seen->second.insert(key_of(labels)).second) {
      throw eval_failure{"multiple matches for labels: grouping labels must ensure unique matches"};
    }
    out.push_back({std::move(labels), value});
  }
  return out;
}

std::vector<sample> vector_scalar(const node& n, std::vector<sample> v, double scalar, bool scalar_left) {
  std::vector<sample> out;
  for (auto& s : v) {
    double l = s.value, r = scalar;
    if (scalar_left) std::swap(l, r);
    auto [value, keep] = elem(n.op, l, r);
    if (is_comparison(n.op) && scalar_left) value = r;
    if (n.return_bool) {
      value = keep ? 1 : 0;
      keep = true;
    }
    if (!keep) continue;
    if (drops_name(n.op) || n.return_bool) s.labels = without_name(std::move(s.labels));
    s.value = value;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------

double eval_scalar(const node& n, const eval_context& ctx) {
  switch (n.what) {
    case node::kind::number: return n.number;
    case node::kind::paren: return eval_scalar(*n.args[0], ctx);
    case node::kind::unary: {
      const double v = eval_scalar(*n.args[0], ctx);
      return n.negate ? -v : v;
    }
    case node::kind::binary: {
      const double l = eval_scalar(*n.args[0], ctx), r = eval_scalar(*n.args[1], ctx);
      auto [value, keep] = elem(n.op, l, r);
      return is_comparison(n.op) ? (keep ? 1 : 0) : value;
    }
    case node::kind::call:
      if (n.function->name == "time") return static_cast<double>(ctx.at_ms) / 1000;
      if (n.function->name == "scalar") {
        const auto v = eval_vector(*n.args[0], ctx);
        return v.size() == 1 ? v[0].value : nan;
      }
      break;
    default: break;
  }
  throw eval_failure{"not a scalar expression"};
}

std::vector<sample> eval_vector(const node& n, const eval_context& ctx) {
  switch (n.what) {
    case node::kind::selector: return select(n, ctx);
    case node::kind::paren: return eval_vector(*n.args[0], ctx);
    case node::kind::unary: {
      auto v = eval_vector(*n.args[0], ctx);
      if (n.negate) {
        for (auto& s : v) {
          s.labels = without_name(std::move(s.labels));
          s.value = -s.value;
        }
        check_unique(v);
      }
      return v;
    }
    case node::kind::call: {
      const bool over_range =
          std::any_of(n.args.begin(), n.args.end(), [](const auto& a) { return a->result == type::matrix; });
      return over_range ? call_over_range(n, ctx) : call_instant(n, ctx);
    }
    case node::kind::aggregate: return aggregate(n, ctx);
    case node::kind::binary: {
      const node& l = *n.args[0];
      const node& r = *n.args[1];
      std::vector<sample> out;
      if (l.result == type::vector && r.result == type::vector)
        out = vector_binop(n, eval_vector(l, ctx), eval_vector(r, ctx));
      else if (l.result == type::vector)
        out = vector_scalar(n, eval_vector(l, ctx), eval_scalar(r, ctx), false);
      else
        out = vector_scalar(n, eval_vector(r, ctx), eval_scalar(l, ctx), true);
      check_unique(out);
      return out;
    }
    default: break;
  }
  throw eval_failure{"not an instant vector expression"};
}

}  // namespace vitals::alerts::promql
