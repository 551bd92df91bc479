#include "probes/core/text_file.hpp"

#include <cerrno>
#include <cstdio>

namespace vitals {

int read_text_file(const std::string& path, std::string& out, std::size_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return errno;
  out.clear();
  char buf[4096];
  std::size_t n = 0;
  int err = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (n > max_bytes - out.size()) {
      err = EFBIG;
      break;
    }
    out.append(buf, n);
  }
  // A directory opens fine and fails on read (EISDIR).
  if (err == 0 && std::ferror(f)) err = errno != 0 ? errno : EIO;
  std::fclose(f);
  return err;
}

}  // namespace vitals
