#include "probes/log/file_follower.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace vitals {

log_fd::~log_fd() {
  if (fd_ >= 0) ::close(fd_);
}

log_fd& log_fd::operator=(log_fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

namespace {

constexpr std::size_t buffer_bytes = 1 << 20;
static_assert(buffer_bytes > 2 * line_splitter::default_max_line, "a waiting line must leave room to read");

// pread until `size` bytes or the end of the file; -1 on an error.
ssize_t read_at(int fd, char* into, std::size_t size, std::uint64_t at) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, into + done, size - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// The tail after `used` more bytes: the last tail_bytes of tail + bytes.
void advance_tail(std::string& tail, std::string_view used) {
  if (used.size() >= followed_file::tail_bytes) {
    tail.assign(used.substr(used.size() - followed_file::tail_bytes));
    return;
  }
  tail.append(used);
  if (tail.size() > followed_file::tail_bytes) tail.erase(0, tail.size() - followed_file::tail_bytes);
}

struct dir_closer {
  void operator()(DIR* d) const { ::closedir(d); }
};

}  // namespace

std::vector<char>& log_read_buffer() {
  thread_local std::vector<char> buffer(buffer_bytes);
  return buffer;
}

int open_log(const std::string& path) { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); }

bool still_same_content(int fd, const followed_file& f) {
  if (f.tail.empty()) return true;
  char bytes[followed_file::tail_bytes];
  const auto n = read_at(fd, bytes, f.tail.size(), f.offset - f.tail.size());
  return n == static_cast<ssize_t>(f.tail.size()) && std::memcmp(bytes, f.tail.data(), f.tail.size()) == 0;
}

void start_log_at(int fd, followed_file& f, std::uint64_t at) {
  f.offset = at;
  f.tail.clear();
  f.splitter.reset();
  if (at == 0) return;
  char bytes[followed_file::tail_bytes];
  const std::size_t want = at < followed_file::tail_bytes ? static_cast<std::size_t>(at) : followed_file::tail_bytes;
  const auto n = read_at(fd, bytes, want, at - want);
  if (n == static_cast<ssize_t>(want)) f.tail.assign(bytes, want);
  if (f.tail.empty() || f.tail.back() != '\n') f.splitter.drop_until_newline();
}

bool read_log_file(int fd, followed_file& f, std::uint64_t end, bool final, read_pass& pass, line_sink& sink) {
  if (!still_same_content(fd, f)) return false;
  auto& buffer = log_read_buffer();
  auto emit = [&](std::string_view line, bool cut) { sink.line(line, cut, f.path, pass); };
  while (f.offset < end && !pass.should_stop()) {
    const std::size_t want = end - f.offset < buffer.size() ? static_cast<std::size_t>(end - f.offset) : buffer.size();
    const ssize_t n = read_at(fd, buffer.data(), want, f.offset);
    if (n <= 0) break;  // shorter than stat said: truncated meanwhile, seen next pass
    const std::string_view data(buffer.data(), static_cast<std::size_t>(n));
    const std::size_t used = f.splitter.split(data, emit);
    f.offset += used;
    advance_tail(f.tail, data.substr(0, used));
    pass.tally.read(used);
    // A line still waiting for its newline at the end of what there is.
    if (used < data.size() && (static_cast<std::size_t>(n) < want || f.offset + (data.size() - used) >= end)) break;
  }
  if (final && !pass.should_stop()) {
    // What is left is at most one unended line shorter than max_line.
    const ssize_t n = read_at(fd, buffer.data(), buffer.size(), f.offset);
    if (n > 0) {
      const std::string_view rest(buffer.data(), static_cast<std::size_t>(n));
      f.splitter.finish(rest, emit);
      f.offset += rest.size();
      advance_tail(f.tail, rest);
      pass.tally.read(rest.size());
    }
  }
  return true;
}

std::optional<std::string> find_renamed_log(const std::string& dir, file_identity id) {
  const std::unique_ptr<DIR, dir_closer> d(::opendir(dir.c_str()));
  if (!d) return std::nullopt;
  while (const dirent* e = ::readdir(d.get())) {
    if (e->d_ino != id.ino) continue;  // readdir knows the inode: no stat for the others
    struct stat st {};
    if (::fstatat(::dirfd(d.get()), e->d_name, &st, 0) == 0 && st.st_dev == id.dev && st.st_ino == id.ino)
      return dir + "/" + e->d_name;
  }
  return std::nullopt;
}

std::optional<file_seen> find_log_copy(const followed_file& f) {
  if (f.offset == 0 || f.tail.empty()) return std::nullopt;
  const std::string dir = log_directory_of(f.path);
  const std::string base = log_base_name(f.path);
  const std::unique_ptr<DIR, dir_closer> d(::opendir(dir.c_str()));
  if (!d) return std::nullopt;
  std::optional<file_seen> newest;
  struct timespec newest_time {};
  while (const dirent* e = ::readdir(d.get())) {
    const std::string_view name = e->d_name;
    if (name == base || !name.starts_with(base)) continue;
    struct stat st {};
    if (::fstatat(::dirfd(d.get()), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode)) continue;
    if (static_cast<std::uint64_t>(st.st_size) < f.offset) continue;
    const log_fd fd(open_log(dir + "/" + e->d_name));
    if (!fd || !still_same_content(fd.get(), f)) continue;
    // The newest such copy is the latest rotation.
    if (newest && (st.st_mtim.tv_sec < newest_time.tv_sec ||
                   (st.st_mtim.tv_sec == newest_time.tv_sec && st.st_mtim.tv_nsec <= newest_time.tv_nsec)))
      continue;
    newest = file_seen{dir + "/" + e->d_name, {st.st_dev, st.st_ino}, static_cast<std::uint64_t>(st.st_size)};
    newest_time = st.st_mtim;
  }
  return newest;
}

std::string log_directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string log_base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace vitals
