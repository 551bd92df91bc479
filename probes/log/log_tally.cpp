#include "probes/log/log_tally.hpp"

#include <algorithm>

namespace vitals {

log_tally::log_tally(std::shared_ptr<const log_pattern_set> patterns)
    : patterns_(std::move(patterns)), states_(patterns_->size()) {}

void log_tally::line(std::string_view text, bool cut, const line_origin& origin) {
  ++lines_;
  ++window_lines_;
  if (cut) ++long_lines_;
  patterns_->match(text, json_, group_, [&](std::size_t i, std::string_view group) {
    auto& p = states_[i];
    ++p.matches;
    ++p.window_matches;
    if (!p.last_match || origin.at > *p.last_match) p.last_match = origin.at;
    keep(p, text, cut, origin);
    if ((*patterns_)[i].group_by().empty()) return;
    if (const auto it = p.groups.find(group); it != p.groups.end())
      ++it->second;
    else if (p.groups.size() < max_group_values)
      p.groups.emplace(std::string(group), 1);
    else
      ++p.other_groups;
  });
}

// Assigns into the slot's strings, so once the ring is warm a match copies
// bytes and allocates nothing.
void log_tally::keep(pattern_state& p, std::string_view text, bool cut, const line_origin& origin) {
  auto& slot = p.recent[p.next];
  slot.text.assign(text.substr(0, max_line_bytes));
  slot.source.assign(origin.source);
  slot.at = origin.at;
  slot.cut = cut || text.size() > max_line_bytes;
  p.next = (p.next + 1) % recent_lines;
  p.kept = std::min(p.kept + 1, recent_lines);
}

void log_tally::start_window() {
  window_lines_ = 0;
  window_bytes_ = 0;
  for (auto& p : states_) {
    p.window_matches = 0;
    p.groups.clear();
    p.other_groups = 0;
  }
}

tally_summary log_tally::summary() const {
  tally_summary s{window_lines_, window_bytes_, lines_, read_bytes_, skipped_bytes_, long_lines_, {}};
  for (std::size_t i = 0; i < states_.size(); ++i) {
    const auto& p = states_[i];
    pattern_summary out;
    out.name = (*patterns_)[i].name();
    out.group_by = (*patterns_)[i].group_by();
    out.matches = p.matches;
    out.last_match = p.last_match;
    for (std::size_t k = 0; k < p.kept; ++k)
      out.recent.push_back(p.recent[(p.next + recent_lines - 1 - k) % recent_lines]);
    out.window_matches = p.window_matches;
    out.top_groups.assign(p.groups.begin(), p.groups.end());
    // Most frequent first; equal counts in the order of their text, so a
    // report reads the same for the same lines.
    std::stable_sort(out.top_groups.begin(), out.top_groups.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (out.top_groups.size() > top_groups) out.top_groups.resize(top_groups);
    out.other_groups = p.other_groups;
    s.patterns.push_back(std::move(out));
  }
  return s;
}

}  // namespace vitals
