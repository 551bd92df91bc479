#pragma once

#include <cstddef>
#include <limits>
#include <string>

namespace vitals {

// Reads a whole file into `out` (binary-safe). Returns 0 or the errno of the
// failure; a directory fails with EISDIR. Stops reading after `max_bytes`
// and fails with EFBIG when there is more, so an endless file (/dev/zero, a
// growing log) costs at most max_bytes + 1 bytes of memory.
int read_text_file(const std::string& path, std::string& out,
                   std::size_t max_bytes = std::numeric_limits<std::size_t>::max());

}  // namespace vitals
