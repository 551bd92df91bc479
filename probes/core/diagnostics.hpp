#pragma once

// What a config error says and where: file:line:column, the key path, values
// quoted (or kept out when they are secrets) and "did you mean" hints.

#include "probes/core/redaction.hpp"

#include <yaml-cpp/mark.h>

#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace vitals {

// One problem in a config file, printed as
// "file:line:column: key.path: message" (line and column are 1-based).
struct config_error {
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;
  std::string message;

  std::string str() const;
};

// Collects every error of one load, so a user sees all of them at once.
// Only the first error for one key path at one position is kept: a value
// whose ${env:…} failed is not reported again as "not a duration".
// Also remembers which scalars came from ${env:…}/${file:…} and the values
// substituted there: those are secrets, "<redacted>" in every error.
class diagnostics {
public:
  explicit diagnostics(std::string file) : file_(std::move(file)) {}

  void add(const YAML::Mark& mark, std::string path, std::string message);
  const std::vector<config_error>& errors() const {
    refresh_secrets();
    return errors_;
  }
  bool ok() const { return errors_.empty(); }
  const std::string& file() const { return file_; }

  void mark_secret(const YAML::Mark& mark) { secret_marks_.insert({mark.line, mark.column}); }
  bool is_secret(const YAML::Mark& mark) const {
    return secret_marks_.contains({mark.line, mark.column});
  }

  // A value that came from ${env:…}/${file:…}. From then on every error of
  // this load shows it as "<redacted>", those already added too.
  void add_secret(std::string value);
  // Every secret value seen so far: what the loaded config redacts.
  const redactor& secrets() const {
    refresh_secrets();
    return secrets_;
  }

private:
  // Builds secrets_ again after add_secret() and redacts the errors
  // added before: a cache, hence the const and the mutable members.
  void refresh_secrets() const;

  std::string file_;
  mutable std::vector<config_error> errors_;
  std::set<std::tuple<int, int, std::string>> reported_;  // (line, column, path) already reported
  static constexpr std::size_t max_errors = 200;
  std::set<std::pair<int, int>> secret_marks_;
  std::vector<std::string> secret_values_;  // in the order seen
  std::set<std::string> secret_set_;
  mutable redactor secrets_;
  mutable bool secrets_stale_ = false;
};

// A value as an error message shows it: in double quotes, control
// characters and ill-formed UTF-8 escaped so one error stays one line, and
// cut after 120 bytes with the full size shown.
std::string quoted(std::string_view text);

// Closest candidate within a small edit distance, or empty.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace vitals
