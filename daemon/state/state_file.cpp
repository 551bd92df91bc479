#include "daemon/state/state_file.hpp"

#include "probes/core/valid_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

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

bool create_private_file(const std::string& path, std::error_code& ec) {
  ec.clear();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return true;
    ec.assign(errno, std::generic_category());
    return false;
  }
  // The umask can only have taken bits away; this puts back the owner's
  // (a umask of 0277 would leave a file SQLite cannot write).
  const bool ok = ::fchmod(fd, 0600) == 0;
  if (!ok) ec.assign(errno, std::generic_category());
  ::close(fd);
  return ok;
}

namespace {

std::string octal_mode(mode_t m) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(m & 07777));
  return text;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::optional<std::string> exposure_warning(const std::string& path) {
  const auto dir = directory_of(path);
  struct stat st {};
  std::string exposed;
  std::string fix;
  if (::stat(dir.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    exposed = "its directory " + printable(dir) + " is mode " + octal_mode(st.st_mode);
    fix = "chmod 700 " + printable(dir);
  }
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
    exposed += (exposed.empty() ? "" : " and ") + printable(path) + " is mode " + octal_mode(st.st_mode);
    fix += (fix.empty() ? "chmod 600 " : "; chmod 600 ") + printable(path) + "*";
  }
  if (exposed.empty()) return std::nullopt;
  return "the state store holds every probe's evidence, but " + exposed +
         ", so other users can reach it; vitalsd leaves modes it did not set alone: " + fix;
}

}  // namespace vitals
