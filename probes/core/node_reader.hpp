#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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
// Also remembers which scalars came from ${env:…}/${file:…}: those are
// secrets and are never echoed back in an error.
class diagnostics {
public:
  explicit diagnostics(std::string file) : file_(std::move(file)) {}

  void add(const YAML::Mark& mark, std::string path, std::string message);
  const std::vector<config_error>& errors() const { return errors_; }
  bool ok() const { return errors_.empty(); }
  const std::string& file() const { return file_; }

  void mark_secret(const YAML::Mark& mark) { secret_marks_.insert({mark.line, mark.column}); }
  bool is_secret(const YAML::Mark& mark) const {
    return secret_marks_.contains({mark.line, mark.column});
  }

private:
  std::string file_;
  std::vector<config_error> errors_;
  std::set<std::pair<int, int>> secret_marks_;
};

// Replaces ${env:NAME} and ${file:/path} in every scalar of `root`, in place.
// A missing variable or unreadable file is an error at the scalar's position.
// A file's trailing newline is dropped. Substituted scalars are marked secret.
void substitute_secrets(YAML::Node root, diagnostics& diags);

// Reads one YAML mapping with its key path ("probes[2]") and reports every
// problem to `diags` with file:line:column. Getters return nullopt on a
// missing or bad value (the bad case is reported). Every key asked about is
// remembered as known, so finish() can reject the others with a
// "did you mean" hint.
class node_reader {
public:
  node_reader(YAML::Node node, std::string path, diagnostics& diags);

  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  diagnostics& diags() const { return *diags_; }
  bool is_map() const { return node_.IsMap(); }

  // True when `key` is present with a value (`key:` and `key: null` count as
  // absent).
  bool has(std::string_view key);
  // has(), and when absent reports "missing required key" at this mapping.
  bool require(std::string_view key);
  std::string key_path(std::string_view key) const;  // "probes[2].timeout"

  std::optional<std::string> string(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<double> number(std::string_view key);
  // "250ms", "15s", "2m", "1h", "1d", and sums like "1m30s".
  std::optional<std::chrono::milliseconds> duration(std::string_view key);
  // Bytes: "512", "64KiB", "64MiB", "1GiB", "10MB", "1.5GB".
  std::optional<std::uint64_t> size(std::string_view key);
  // A string that must be one of `choices`.
  std::optional<std::string> one_of(std::string_view key, std::initializer_list<std::string_view> choices);
  // A nested mapping, reported as an error if present but not a mapping.
  std::optional<node_reader> map(std::string_view key);
  // Items of a sequence, each with path "key[i]".
  std::optional<std::vector<node_reader>> sequence(std::string_view key);

  // Report a problem with `key`'s value (or, when absent, at this mapping).
  void error(std::string_view key, std::string message);
  // Report a problem with this node as a whole.
  void error_here(std::string message);
  // The scalar's text for an error message: quoted, or "<redacted>" for a secret.
  std::string shown(std::string_view key) const;

  // Mark keys as known without reading them (e.g. read by someone else).
  void known(std::initializer_list<std::string_view> keys);
  // Reports every key of this mapping that nobody asked about.
  void finish();

private:
  YAML::Node value(std::string_view key);
  YAML::Mark mark_of(std::string_view key) const;
  // The key and value nodes of `key` (the first one, if repeated).
  std::optional<std::pair<YAML::Node, YAML::Node>> find(std::string_view key) const;

  YAML::Node node_;
  std::string path_;
  diagnostics* diags_;
  std::shared_ptr<std::set<std::string, std::less<>>> known_;
};

// Parsing helpers, also used outside YAML (CLI flags, tests).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);
std::string format_duration(std::chrono::milliseconds d);  // "1m30s", "250ms"
// Reads a whole file. Returns 0 or the errno of the failure.
int read_text_file(const std::string& path, std::string& out);
// Closest candidate within a small edit distance, or empty.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace vitals
