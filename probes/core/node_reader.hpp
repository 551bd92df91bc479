#pragma once

// Reading the config one YAML mapping at a time, with errors people can act
// on. Declarative: each key is listed once with where it goes; the reader
// reports bad values at their position, remembers the keys it was asked
// about and whether anything failed:
//
//   r.read_required("path", s.path, absolute_path{});
//   r.read("timeout", s.timeout);                       // "500ms", "15s"
//   r.read("max_messages", s.max_messages, between{1, 100'000});
//   r.read("mode", s.mode, {{"open", mode::open}, {"closed", mode::closed}});
//   r.read_size("max_body_bytes", s.max_body_bytes);   // "64KiB"
//   if (r.failed()) return nullptr;

#include "probes/core/diagnostics.hpp"

#include <yaml-cpp/yaml.h>

#include <cassert>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace vitals {

// For read(): a whole number must lie in [min, max], a range inside its
// type's. Reported as "must be between 1 and 100, got "150"".
struct between {
  std::int64_t min;
  std::int64_t max;
};

// For read(): a name the key may take and the value it stands for, as in
// {{"open", true}, {"closed", false}}. Any other name is reported as
// "expected open|closed, got "opne"; did you mean "open"?".
template <class T>
struct choice {
  std::string_view name;
  T value;
};

// A check for read(): the value is an absolute path. Reported as
// ""db.sqlite" is not an absolute path", then " (why)" when `why` is set.
struct absolute_path {
  std::string_view why;
  std::string operator()(const std::string& path, const std::string& shown) const;
};

namespace reader_detail {

template <class T>
struct unwrap_optional {
  using type = T;
};
template <class T>
struct unwrap_optional<std::optional<T>> {
  using type = T;
};
// What read() parses for an `out` of type T: T, or U for std::optional<U>.
template <class T>
using value_t = typename unwrap_optional<T>::type;

template <class T>
inline constexpr bool is_duration = false;
template <class Rep, class Period>
inline constexpr bool is_duration<std::chrono::duration<Rep, Period>> = true;

template <class>
inline constexpr bool unsupported = false;

// The whole range of an integral type, as far as an int64 reaches.
template <class Int>
constexpr between natural_range() {
  constexpr auto int64_max = std::numeric_limits<std::int64_t>::max();
  constexpr auto max = std::numeric_limits<Int>::max();
  return {static_cast<std::int64_t>(std::numeric_limits<Int>::min()),
          std::cmp_less(int64_max, max) ? int64_max : static_cast<std::int64_t>(max)};
}

// A check's answer as a message: empty when the value is fine.
template <class Answer>
std::string problem_text(Answer&& answer) {
  if constexpr (std::is_same_v<std::remove_cvref_t<Answer>, std::optional<std::string>>)
    return answer.value_or(std::string());
  else
    return std::string(std::forward<Answer>(answer));
}

struct no_check {};

}  // namespace reader_detail

// A check for a read into T: called as check(value) or check(value, shown),
// it returns what is wrong with the value (std::string or
// std::optional<std::string>; empty or nullopt when it is fine).
template <class Check, class T>
concept value_check = std::invocable<Check&, const reader_detail::value_t<T>&> ||
                      std::invocable<Check&, const reader_detail::value_t<T>&, const std::string&>;

// Reads one YAML mapping with its key path ("probes[2]") and reports every
// problem to `diags` with file:line:column. Every key asked about is
// remembered as known, so finish() can reject the others with a "did you
// mean" hint. Copies share the known keys and the failure record.
//
// Failure: every problem reported through a reader (a bad value, a failed
// check, a missing required key, error(), error_here(), error_at(), an
// unknown key in finish()) marks it failed. A reader made by map(),
// sequence() or nested() starts clean, and its failures mark its parent
// too, up to the root: failed() means "something in this mapping or below
// it is wrong". They never pass down or sideways: a bad probes[1] does not
// fail probes[2], so each item decides for itself whether it is usable.
// Errors added with diags().add() bypass the record; report through the
// reader.
//
// Not thread-safe: a reader and its nested readers belong to one thread.
class node_reader {
public:
  node_reader(YAML::Node node, std::string path, diagnostics& diags);

  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  diagnostics& diags() const { return *diags_; }
  bool is_map() const { return node_.IsMap(); }

  // ---- Declarative reads --------------------------------------------------
  // Each returns true when `key` was set and its value stored in `out`.
  // When it is not set (absent, `key:` or `key: null`) `out` keeps its
  // value: the default. A bad value is reported at its position,
  // remembered (failed()), and `out` keeps its value too.

  // Parses by the type of `out`: std::string; bool (true/false, yes/no,
  // on/off); a whole number in its type's range; double; a
  // std::chrono::duration holding milliseconds exactly ("250ms", "15s",
  // "1m30s"; a bare number is an error); or std::optional of one of these.
  // Sizes in bytes: read_size().
  template <class T>
  bool read(std::string_view key, T& out);
  // The same, then `check` (see value_check) is asked about the value;
  // `shown` is the value as an error may quote it (see shown()). What it
  // returns is reported at the key, and `out` keeps its value.
  template <class T, class Check>
    requires value_check<Check, T>
  bool read(std::string_view key, T& out, Check&& check);
  // A whole number within `range`.
  template <class T>
  bool read(std::string_view key, T& out, between range);
  // One of fixed names, stored as the value it stands for.
  template <class T>
  bool read(std::string_view key, T& out, std::initializer_list<choice<T>> choices);
  // A string that must be one of `choices`.
  bool read(std::string_view key, std::string& out, std::initializer_list<std::string_view> choices);

  // read() for a key that must be set: when it is not, reports "missing
  // required key" at this mapping (where the key would go).
  template <class T>
  bool read_required(std::string_view key, T& out);
  template <class T, class Check>
    requires value_check<Check, T>
  bool read_required(std::string_view key, T& out, Check&& check);
  template <class T>
  bool read_required(std::string_view key, T& out, between range);
  template <class T>
  bool read_required(std::string_view key, T& out, std::initializer_list<choice<T>> choices);
  bool read_required(std::string_view key, std::string& out, std::initializer_list<std::string_view> choices);

  // Bytes: "512", "64KiB", "64MiB", "1GiB", "10MB", "1.5GB", into a 64-bit
  // unsigned number or std::optional of one; optionally checked as above.
  template <class T>
  bool read_size(std::string_view key, T& out);
  template <class T, class Check>
    requires value_check<Check, T>
  bool read_size(std::string_view key, T& out, Check&& check);

  // True once a problem was reported through this reader, a copy of it, or
  // a reader nested in it (see the class comment).
  bool failed() const { return failure_->failed; }

  // ---- Step by step, for keys whose shape decides how to read them -------
  // Getters return nullopt on a missing or bad value; the bad case is
  // reported and remembered like above.

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
  // A reader of `key`'s value whatever it holds (a mapping, a single value
  // or nothing), for a value that may take several shapes.
  node_reader nested(std::string_view key);

  // Report a problem with `key`'s value (or, when absent, at this mapping).
  void error(std::string_view key, std::string message);
  // Report a problem with this node as a whole.
  void error_here(std::string message);
  // Report a problem at `mark`, a position inside `key`'s value (one
  // character of an expression).
  void error_at(const YAML::Mark& mark, std::string_view key, std::string message);
  // The scalar's text for an error message: quoted, or "<redacted>" for a secret.
  std::string shown(std::string_view key) const;
  // The same for any node inside this mapping's values (a list item).
  std::string shown_value(const YAML::Node& value) const;
  // True when `key`'s value came from ${env:…}/${file:…}: never echo it.
  bool is_secret(std::string_view key) const;

  // Mark keys as known without reading them (e.g. read by someone else).
  void known(std::initializer_list<std::string_view> keys);
  // Reports every key of this mapping that nobody asked about, and repeated
  // keys.
  void finish();

private:
  // Shared by a reader and its copies. Invariant: a failed record's
  // ancestors have all failed (marking always runs up to the root).
  struct failure_record {
    bool failed = false;
    std::shared_ptr<failure_record> parent;
  };

  node_reader(YAML::Node node, std::string path, diagnostics& diags, std::shared_ptr<failure_record> parent);

  YAML::Node value(std::string_view key);
  YAML::Mark mark_of(std::string_view key) const;
  // The key and value nodes of `key` (the first one, if repeated).
  std::optional<std::pair<YAML::Node, YAML::Node>> find(std::string_view key) const;
  void mark_failed();

  // The value of `key` parsed as V, within `range` for whole numbers.
  template <class V>
  std::optional<V> parse(std::string_view key, std::optional<between> range = std::nullopt);
  template <class V>
  std::optional<V> size_as(std::string_view key);
  // Index of the value of `key` in `names`, after reporting any other value.
  std::optional<std::size_t> choose(std::string_view key, std::span<const std::string_view> names);
  // Checks `value` and stores it in `out`.
  template <class T, class V, class Check>
  bool store(std::string_view key, T& out, std::optional<V> value, Check& check);

  YAML::Node node_;
  std::string path_;
  diagnostics* diags_;
  std::shared_ptr<std::set<std::string, std::less<>>> known_;
  std::shared_ptr<failure_record> failure_;
};

// ---- Implementation of the templates --------------------------------------

template <class V>
std::optional<V> node_reader::parse(std::string_view key, std::optional<between> range) {
  if constexpr (std::is_same_v<V, std::string>) {
    return string(key);
  } else if constexpr (std::is_same_v<V, bool>) {
    return boolean(key);
  } else if constexpr (std::is_integral_v<V>) {
    constexpr between whole = reader_detail::natural_range<V>();
    const between allowed = range.value_or(whole);
    assert(allowed.min >= whole.min && allowed.max <= whole.max);
    auto n = integer(key, allowed.min, allowed.max);
    if (!n) return std::nullopt;
    return static_cast<V>(*n);
  } else if constexpr (std::is_same_v<V, double>) {
    return number(key);
  } else if constexpr (reader_detail::is_duration<V>) {
    static_assert(std::is_convertible_v<std::chrono::milliseconds, V>,
                  "node_reader::read: the duration type must hold milliseconds exactly");
    auto d = duration(key);
    if (!d) return std::nullopt;
    return V(*d);
  } else {
    static_assert(reader_detail::unsupported<V>,
                  "node_reader::read: no reading for this type (bytes: read_size; names: pass choices)");
  }
}

template <class V>
std::optional<V> node_reader::size_as(std::string_view key) {
  static_assert(std::is_unsigned_v<V> && !std::is_same_v<V, bool> && sizeof(V) >= sizeof(std::uint64_t),
                "node_reader::read_size: sizes go into a 64-bit unsigned number");
  auto n = size(key);
  if (!n) return std::nullopt;
  return static_cast<V>(*n);
}

template <class T, class V, class Check>
bool node_reader::store(std::string_view key, T& out, std::optional<V> value, Check& check) {
  if (!value) return false;
  if constexpr (!std::is_same_v<Check, reader_detail::no_check>) {
    std::string problem;
    if constexpr (std::is_invocable_v<Check&, const V&>)
      problem = reader_detail::problem_text(check(std::as_const(*value)));
    else
      problem = reader_detail::problem_text(check(std::as_const(*value), shown(key)));
    if (!problem.empty()) {
      error(key, std::move(problem));
      return false;
    }
  }
  out = std::move(*value);
  return true;
}

template <class T>
bool node_reader::read(std::string_view key, T& out) {
  reader_detail::no_check none;
  return store(key, out, parse<reader_detail::value_t<T>>(key), none);
}

template <class T, class Check>
  requires value_check<Check, T>
bool node_reader::read(std::string_view key, T& out, Check&& check) {
  return store(key, out, parse<reader_detail::value_t<T>>(key), check);
}

template <class T>
bool node_reader::read(std::string_view key, T& out, between range) {
  static_assert(std::is_integral_v<reader_detail::value_t<T>>, "between: for whole numbers");
  reader_detail::no_check none;
  return store(key, out, parse<reader_detail::value_t<T>>(key, range), none);
}

template <class T>
bool node_reader::read(std::string_view key, T& out, std::initializer_list<choice<T>> choices) {
  std::vector<std::string_view> names;
  for (const auto& c : choices) names.push_back(c.name);
  const auto index = choose(key, names);
  if (!index) return false;
  out = (choices.begin() + *index)->value;
  return true;
}

template <class T>
bool node_reader::read_required(std::string_view key, T& out) {
  return require(key) && read(key, out);
}

template <class T, class Check>
  requires value_check<Check, T>
bool node_reader::read_required(std::string_view key, T& out, Check&& check) {
  return require(key) && read(key, out, check);
}

template <class T>
bool node_reader::read_required(std::string_view key, T& out, between range) {
  return require(key) && read(key, out, range);
}

template <class T>
bool node_reader::read_required(std::string_view key, T& out, std::initializer_list<choice<T>> choices) {
  return require(key) && read(key, out, choices);
}

template <class T>
bool node_reader::read_size(std::string_view key, T& out) {
  reader_detail::no_check none;
  return store(key, out, size_as<reader_detail::value_t<T>>(key), none);
}

template <class T, class Check>
  requires value_check<Check, T>
bool node_reader::read_size(std::string_view key, T& out, Check&& check) {
  return store(key, out, size_as<reader_detail::value_t<T>>(key), check);
}

}  // namespace vitals
