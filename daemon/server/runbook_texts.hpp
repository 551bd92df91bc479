#pragma once

// The runbooks' Markdown (docs/runbooks/*.md), built into the binary: the
// daemon serves them without reading a file (cmake/EmbedRunbooks.cmake
// writes the definition at build time).

#include <span>
#include <string_view>

namespace vitals {

struct runbook_text {
  std::string_view name;      // the file name without ".md": an alert name, or "README" for the index
  std::string_view markdown;  // the file as it is in the source tree
};

// Every docs/runbooks/*.md of the source tree this binary was built from, by name.
std::span<const runbook_text> runbook_texts();

}  // namespace vitals
