#include "daemon/state/state_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace vitals {

std::optional<file_id> id_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return file_id{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

bool is_empty_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0;
}

file_change change_at(const std::string& path, file_id opened, std::error_code& ec) {
  ec.clear();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return file_change::deleted;
    ec.assign(errno, std::generic_category());
    return file_change::none;
  }
  if (file_id{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)} != opened)
    return file_change::replaced;
  // A WAL database always has its header in the file itself: 0 bytes is
  // never a state of ours, only a truncation.
  if (st.st_size == 0) return file_change::emptied;
  return file_change::none;
}

const char* describe(file_change c) {
  switch (c) {
    case file_change::none: return "is unchanged";
    case file_change::deleted: return "was deleted";
    case file_change::replaced: return "was replaced by another file";
    case file_change::emptied: return "was emptied (0 bytes)";
  }
  return "changed";
}

wal_files wal_files_of(const std::string& path) { return {id_of(path + "-wal"), id_of(path + "-shm")}; }

void remove_wal_files(const std::string& path, const wal_files& ours) {
  for (const auto& [suffix, id] : {std::pair{"-wal", ours.wal}, std::pair{"-shm", ours.shm}}) {
    const auto file = path + suffix;
    if (id && id_of(file) == id) ::unlink(file.c_str());
  }
}

}  // namespace vitals
