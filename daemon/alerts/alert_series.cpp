#include "daemon/alerts/alert_series.hpp"

#include "daemon/alerts/promql_string.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace vitals::alerts {

namespace {

// Prometheus's stale marker: a NaN no computation produces. Real NaN
// values are stored as the ordinary quiet NaN, so the two never mix.
constexpr std::uint64_t stale_bits = 0x7ff0000000000002ull;
const double stale_marker = std::bit_cast<double>(stale_bits);
bool is_stale(double v) { return std::bit_cast<std::uint64_t>(v) == stale_bits; }
double storable(double v) { return std::isnan(v) ? std::numeric_limits<double>::quiet_NaN() : v; }

bool by_name(const label& a, const label& b) { return a.name < b.name; }

}  // namespace

int compare(const label_set& a, const label_set& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i].name != b[i].name) return a[i].name < b[i].name ? -1 : 1;
    if (a[i].value != b[i].value) return a[i].value < b[i].value ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : a.size() < b.size() ? -1 : 1;
}

std::string_view value_of(const label_set& l, std::string_view name) {
  const auto it = std::lower_bound(l.begin(), l.end(), label{name, {}}, by_name);
  return it != l.end() && it->name == name ? it->value : std::string_view();
}

std::string key_of(const label_set& l) {
  std::string k;
  for (const auto& [name, value] : l) {
    k.append(name);
    k += '\xff';
    k.append(value);
    k += '\xff';
  }
  return k;
}

std::string_view string_pool::intern(std::string_view s) {
  if (const auto it = strings_.find(s); it != strings_.end()) return *it;
  return *strings_.emplace(s).first;
}

// ---------------------------------------------------------------------------

void series_table::add(std::string_view name, std::span<const std::pair<std::string_view, std::string_view>> labels,
                       double value) {
  const auto n = strings_.intern(name);
  sample s;
  s.labels.reserve(labels.size() + 1);
  s.labels.push_back({metric_name_label, n});
  for (const auto& [k, v] : labels)
    if (!v.empty()) s.labels.push_back({strings_.intern(k), strings_.intern(v)});  // "" is no label in PromQL
  std::sort(s.labels.begin(), s.labels.end(), by_name);
  s.value = value;
  by_name_[n].push_back(std::move(s));
  ++samples_;
}

void series_table::add(std::string_view name, const std::map<std::string, std::string>& labels, double value) {
  std::vector<std::pair<std::string_view, std::string_view>> l(labels.begin(), labels.end());
  add(name, l, value);
}

std::span<const sample> series_table::named(std::string_view name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) return {};
  return it->second;
}

// ---------------------------------------------------------------------------

bool matcher::matches(std::string_view v) const {
  switch (kind) {
    case op::eq: return v == value;
    case op::ne: return v != value;
    case op::re: return regex->matches(v);
    case op::nre: return !regex->matches(v);
  }
  return false;
}

std::string matcher::text() const {
  static constexpr const char* ops[] = {"=", "!=", "=~", "!~"};
  return label + ops[static_cast<int>(kind)] + promql_quote(value);
}

bool selector_spec::matches(const label_set& l) const {
  return std::all_of(matchers.begin(), matchers.end(),
                     [&](const matcher& m) { return m.matches(value_of(l, m.label)); });
}

// ---------------------------------------------------------------------------

void history::require(std::vector<history_need> needs, std::int64_t slack_ms) {
  std::int64_t reach = 0;
  for (const auto& n : needs) reach = std::max(reach, n.reach_ms);
  keep_ms_ = needs.empty() ? 0 : reach + slack_ms;
  slack_ms_ = slack_ms;
  // Needs on one metric together, so each sample is looked at once.
  std::stable_sort(needs.begin(), needs.end(),
                   [](const history_need& a, const history_need& b) { return a.selector->name < b.selector->name; });
  needs_changed_ = needs.size() != needs_.size() ||
                   !std::equal(needs.begin(), needs.end(), needs_.begin(), [](const history_need& a, const history_need& b) {
                     return a.selector == b.selector && a.reach_ms == b.reach_ms;
                   });
  needs_ = std::move(needs);
}

void history::record(const series_table& now, std::int64_t at_ms) {
  ++seq_;
  times_.push_back(at_ms);
  truncated_.clear();
  dropped_ = 0;
  for (std::size_t first = 0; first < needs_.size();) {
    const std::string& name = needs_[first].selector->name;
    std::size_t last = first;
    while (last < needs_.size() && needs_[last].selector->name == name) ++last;
    std::map<std::string, std::unique_ptr<kept>>* of_name = nullptr;
    for (const sample& s : now.named(name)) {
      // The farthest reach of the needs that match it; none: not kept.
      std::int64_t reach = -1;
      for (std::size_t i = first; i < last; ++i)
        if (needs_[i].reach_ms > reach && needs_[i].selector->matches(s.labels)) reach = needs_[i].reach_ms;
      if (reach < 0) continue;
      if (of_name == nullptr) of_name = &kept_[name];
      auto key = key_of(s.labels);
      auto it = of_name->find(key);
      if (it == of_name->end()) {
        // What its window will hold once full, at one sample per evaluation.
        const auto window = static_cast<std::size_t>(slack_ms_ > 0 ? (reach + slack_ms_) / slack_ms_ + 1 : 1);
        if (kept_count_ >= max_series_ || reserved_ + window > max_samples_) {
          ++dropped_;
          for (std::size_t i = first; i < last; ++i)
            if (needs_[i].selector->matches(s.labels)) truncated_.insert(needs_[i].selector);
          continue;
        }
        auto k = std::make_unique<kept>();
        std::size_t size = 0;
        for (const auto& [n, v] : s.labels) size += n.size() + v.size();
        k->storage.reserve(size);
        for (const auto& [n, v] : s.labels) {
          k->storage.append(n);
          k->storage.append(v);
        }
        std::size_t at = 0;
        for (const auto& [n, v] : s.labels) {
          k->labels.push_back({std::string_view(k->storage.data() + at, n.size()),
                               std::string_view(k->storage.data() + at + n.size(), v.size())});
          at += n.size() + v.size();
        }
        k->reserved = window;
        reserved_ += window;
        it = of_name->emplace(std::move(key), std::move(k)).first;
        ++kept_count_;
      }
      kept& k = *it->second;
      k.values.push_back(storable(s.value));
      ++sample_count_;
      k.last_seen = seq_;
      k.reach_ms = reach;
    }
    first = last;
  }

  // Series absent now get a stale marker; each series keeps only as many
  // evaluations as the needs that match it reach back (plus the slack),
  // and goes when nothing but stale markers is left or, after a change of
  // rules, no need matches it any more.
  while (!times_.empty() && times_.front() < at_ms - keep_ms_) times_.pop_front();
  const bool recheck = std::exchange(needs_changed_, false);
  for (auto name = kept_.begin(); name != kept_.end();) {
    for (auto it = name->second.begin(); it != name->second.end();) {
      kept& k = *it->second;
      bool gone = false;
      if (k.last_seen != seq_) {
        k.values.push_back(stale_marker);
        ++sample_count_;
        if (recheck) {
          std::int64_t reach = -1;
          for (const auto& n : needs_)
            if (n.selector->name == name->first && n.reach_ms > reach && n.selector->matches(k.labels)) reach = n.reach_ms;
          if (reach < 0) gone = true;
          k.reach_ms = reach;
        }
      }
      // values[i] belongs to times_[times_.size() - values.size() + i].
      const std::int64_t oldest = at_ms - k.reach_ms - slack_ms_;
      while (!k.values.empty() &&
             (k.values.size() > times_.size() || times_[times_.size() - k.values.size()] < oldest)) {
        k.values.pop_front();
        --sample_count_;
      }
      // Seen within what is kept: not only stale markers.
      gone = gone || k.values.empty() || seq_ - k.last_seen >= k.values.size();
      if (gone) {
        sample_count_ -= k.values.size();
        reserved_ -= k.reserved;
        it = name->second.erase(it);
        --kept_count_;
      } else {
        ++it;
      }
    }
    name = name->second.empty() ? kept_.erase(name) : std::next(name);
  }
}

std::ptrdiff_t history::index_at(std::int64_t t) const {
  const auto it = std::upper_bound(times_.begin(), times_.end(), t);
  return (it - times_.begin()) - 1;
}

template <typename Fn>
void history::each_match(const selector_spec& sel, Fn&& fn) const {
  const auto name = kept_.find(sel.name);
  if (name == kept_.end()) return;
  for (const auto& [key, k] : name->second)
    if (sel.matches(k->labels)) fn(*k);
}

void history::range(const selector_spec& sel, std::int64_t from_ms, std::int64_t to_ms,
                    const std::function<void(const label_set&, std::span<const point>)>& fn) const {
  const auto last = index_at(to_ms);
  if (last < 0) return;
  const auto first = static_cast<std::ptrdiff_t>(std::lower_bound(times_.begin(), times_.end(), from_ms) - times_.begin());
  std::vector<point> points;
  each_match(sel, [&](const kept& k) {
    points.clear();
    // values[i] belongs to times_[offset + i]
    const auto offset = static_cast<std::ptrdiff_t>(times_.size() - k.values.size());
    for (auto i = std::max(first, offset); i <= last; ++i) {
      const double v = k.values[static_cast<std::size_t>(i - offset)];
      if (!is_stale(v)) points.push_back({times_[static_cast<std::size_t>(i)], v});
    }
    fn(k.labels, points);
  });
}

void history::at(const selector_spec& sel, std::int64_t at_ms,
                 const std::function<void(const label_set&, double)>& fn) const {
  const auto i = index_at(at_ms);
  if (i < 0 || times_[static_cast<std::size_t>(i)] < at_ms - lookback_ms) return;
  each_match(sel, [&](const kept& k) {
    const auto offset = static_cast<std::ptrdiff_t>(times_.size() - k.values.size());
    if (i < offset) return;
    const double v = k.values[static_cast<std::size_t>(i - offset)];
    if (!is_stale(v)) fn(k.labels, v);
  });
}

}  // namespace vitals::alerts
