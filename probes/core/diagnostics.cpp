#include "probes/core/diagnostics.hpp"

#include "probes/core/proc_text.hpp"
#include "probes/core/valid_text.hpp"

#include <algorithm>
#include <cctype>

namespace vitals {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance: Levenshtein plus swapping two adjacent
// letters as one edit, the most common typo ("prot" for "port").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string config_error::str() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

void diagnostics::add(const YAML::Mark& mark, std::string path, std::string message) {
  config_error e;
  e.file = file_;
  // yaml-cpp counts from 0; editors and compilers count from 1. A null
  // mark (-1) stays 0: "no position".
  e.line = mark.line >= 0 ? mark.line + 1 : 0;
  e.column = mark.column >= 0 ? mark.column + 1 : 0;
  // Keys are the user's text too: a "p\rort" key must not break the line.
  e.path = printable(path);
  e.message = printable(message);
  // A message that quotes a megabyte name, or a path through a key as long
  // as a paragraph (found by fuzz_config), stays one readable line.
  constexpr std::size_t max_path = 200, max_message = 400;
  // Secrets are hidden before the cut, which could leave the start of one.
  // A text that will not be cut waits for refresh_secrets() if secrets came
  // since the last build: substitution adds secrets and errors in turn, and
  // building the redactor for each error would cost as many builds.
  if (e.path.size() > max_path || e.message.size() > max_message) refresh_secrets();
  secrets_.redact(e.path);
  secrets_.redact(e.message);
  for (auto [text, limit] : {std::pair{&e.path, max_path}, std::pair{&e.message, max_message}}) {
    if (text->size() <= limit) continue;
    truncate_utf8(*text, limit);
    *text += "…";
  }
  if (!reported_.insert({e.line, e.column, e.path}).second) return;
  // A generated file can hold a million mistakes; the first ones say enough.
  if (errors_.size() == max_errors) {
    e.path.clear();
    e.message = "too many errors; stopped after " + std::to_string(max_errors);
  } else if (errors_.size() > max_errors) {
    return;
  }
  errors_.push_back(std::move(e));
}

void diagnostics::add_secret(std::string value) {
  // A value used in many places is one secret: no rebuild for it.
  if (value.empty() || !secret_set_.insert(value).second) return;
  secret_values_.push_back(std::move(value));
  secrets_stale_ = true;
}

void diagnostics::refresh_secrets() const {
  if (!secrets_stale_) return;
  secrets_ = redactor(secret_values_);
  secrets_stale_ = false;
  // Errors added before a value was known could not hide it yet.
  for (auto& e : errors_) {
    secrets_.redact(e.path);
    secrets_.redact(e.message);
  }
}

std::string quoted(std::string_view text) {
  // A megabyte value would bury the message: show its start and its size.
  constexpr std::size_t shown_bytes = 120;
  std::string shown(text.substr(0, shown_bytes));
  const bool cut = text.size() > shown_bytes;
  if (cut) truncate_utf8(shown, shown_bytes - 3);
  std::string out = "\"";
  for (char c : shown) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out = printable(out);
  if (cut) out += "…\" (" + std::to_string(text.size()) + " bytes)";
  else out += '"';
  return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.empty()) return {};
  // Names are short; a long word is no typo of one (and would cost
  // length × length per candidate).
  if (word.size() > 64) return {};
  std::string needle = lower(word);
  std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    // The length difference is a lower bound of the distance.
    const std::size_t gap = candidate.size() > word.size() ? candidate.size() - word.size() : word.size() - candidate.size();
    if (gap >= best_distance) continue;
    std::size_t distance = edit_distance(needle, lower(candidate));
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace vitals
