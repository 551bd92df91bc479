#pragma once

// What every fuzz target shares: the input as text, split into parts for
// targets that take more than one argument, and a way to stop with a
// one-line reason when a property the code promises does not hold (libFuzzer
// saves the input that did it, as for a crash).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace vitals::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The input cut at NUL bytes into at most `parts` pieces; the last piece
// keeps any further NULs. Missing pieces are empty, so every input is usable
// and the fuzzer learns the separator from the seeds.
inline std::vector<std::string_view> split_input(std::string_view input, std::size_t parts) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < parts) {
    const auto at = input.find('\0');
    if (at == std::string_view::npos) break;
    out.push_back(input.substr(0, at));
    input.remove_prefix(at + 1);
  }
  out.push_back(input);
  out.resize(parts);
  return out;
}

// A broken promise: report it on one line and abort, so libFuzzer keeps the input.
[[noreturn]] inline void broken(const char* what) {
  std::fprintf(stderr, "fuzz property broken: %s\n", what);
  std::abort();
}

inline void require(bool holds, const char* what) {
  if (!holds) broken(what);
}

}  // namespace vitals::fuzz
