#pragma once

#include <string>

namespace vitals {

// Reads a whole file into `out` (binary-safe, any size). Returns 0 or the
// errno of the failure; a directory fails with EISDIR.
int read_text_file(const std::string& path, std::string& out);

}  // namespace vitals
