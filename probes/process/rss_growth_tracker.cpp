#include "probes/process/rss_growth_tracker.hpp"

#include <algorithm>

namespace vitals {

rss_growth_tracker::rss_growth_tracker(clock::duration window) : window_(window) {}

namespace {

// Drops every second point but the first and the last: keeps the span (and
// so the slope's meaning) when runs are far more frequent than needed.
template <class Deque>
void thin_out(Deque& points) {
  Deque kept;
  for (std::size_t i = 0; i < points.size(); ++i)
    if (i % 2 == 0 || i + 1 == points.size()) kept.push_back(points[i]);
  points = std::move(kept);
}

}  // namespace

void rss_growth_tracker::trim(series& s, clock::time_point now) const {
  while (!s.empty() && now - s.front().at > window_) s.pop_front();
  if (s.size() > max_points_per_process) thin_out(s);
}

void rss_growth_tracker::add(clock::time_point at, const std::vector<rss_sample>& current) {
  if (!scans_.empty() && at < scans_.back()) {
    series_.clear();
    scans_.clear();
  }
  scans_.push_back(at);
  while (!scans_.empty() && at - scans_.front() > window_) scans_.pop_front();
  if (scans_.size() > max_points_per_process) thin_out(scans_);

  std::map<process_key, series> next;
  for (const auto& sample : current) {
    auto& s = next[sample.key];
    if (s.empty()) {
      if (auto old = series_.find(sample.key); old != series_.end()) s = std::move(old->second);
    }
    // The same instance twice in one scan would be a caller bug; keep the last.
    if (!s.empty() && s.back().at == at) s.pop_back();
    s.push_back({at, static_cast<double>(sample.rss_bytes)});
    trim(s, at);
  }
  series_ = std::move(next);
}

bool rss_growth_tracker::enough(const series& s) const {
  return s.size() >= min_points && s.back().at - s.front().at >= min_span();
}

double rss_growth_tracker::slope(const series& s) {
  // Times relative to the first point keep the doubles small and exact enough.
  const auto t0 = s.front().at;
  auto seconds = [&](const point& p) { return std::chrono::duration<double>(p.at - t0).count(); };
  double mean_t = 0;
  double mean_y = 0;
  for (const auto& p : s) {
    mean_t += seconds(p);
    mean_y += p.rss_bytes;
  }
  const auto n = static_cast<double>(s.size());
  mean_t /= n;
  mean_y /= n;
  double covariance = 0;
  double variance = 0;
  for (const auto& p : s) {
    const double dt = seconds(p) - mean_t;
    covariance += dt * (p.rss_bytes - mean_y);
    variance += dt * dt;
  }
  return variance > 0 ? covariance / variance : 0.0;
}

std::optional<double> rss_growth_tracker::growth_per_second() const {
  if (scans_.size() < min_points || scans_.back() - scans_.front() < min_span()) return std::nullopt;
  double total = 0;
  for (const auto& [key, s] : series_)
    if (enough(s)) total += slope(s);
  return total;
}

std::optional<double> rss_growth_tracker::growth_per_second(const process_key& key) const {
  const auto it = series_.find(key);
  if (it == series_.end() || !enough(it->second)) return std::nullopt;
  return slope(it->second);
}

}  // namespace vitals
