#include "probes/core/text_file.hpp"

#include <cerrno>
#include <cstdio>

namespace vitals {

int read_text_file(const std::string& path, std::string& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return errno;
  out.clear();
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  // A directory opens fine and fails on read (EISDIR).
  int err = std::ferror(f) ? (errno != 0 ? errno : EIO) : 0;
  std::fclose(f);
  return err;
}

}  // namespace vitals
