#pragma once

// Following one log file by its identity (device and inode), whatever name
// it has: how far it was read, the bytes just before that point (to tell a
// truncated and rewritten file from the one read), and the open descriptor
// while the source keeps it. Blocking I/O; runs on the pool.

#include "probes/log/line_splitter.hpp"
#include "probes/log/log_source.hpp"

#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

// Closes what it owns.
class log_fd {
 public:
  log_fd() = default;
  explicit log_fd(int fd) : fd_(fd) {}
  ~log_fd();
  log_fd(log_fd&& other) noexcept : fd_(other.release()) {}
  log_fd& operator=(log_fd&& other) noexcept;
  log_fd(const log_fd&) = delete;
  log_fd& operator=(const log_fd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

struct file_identity {
  dev_t dev = 0;
  ino_t ino = 0;
  auto operator<=>(const file_identity&) const = default;
};

// What stat() said about a path.
struct file_seen {
  std::string path;
  file_identity id;
  std::uint64_t size = 0;
};

// Where a followed file's lines go: straight to the tally, or through a
// decoder first (Docker's json-file envelopes).
class line_sink {
 public:
  virtual ~line_sink() = default;
  virtual void line(std::string_view text, bool cut, const std::string& file, read_pass& pass) = 0;
};

// The sink of plain log files: every line as it is, read now.
class tally_sink final : public line_sink {
 public:
  void line(std::string_view text, bool cut, const std::string& file, read_pass& pass) override {
    pass.tally.line(text, cut, {file, pass.now});
  }
};

struct followed_file {
  static constexpr std::size_t tail_bytes = 64;

  std::string path;  // the name it was last seen under
  file_identity id;
  std::uint64_t offset = 0;  // every byte before it was split into lines
  std::string tail;          // the (up to) tail_bytes bytes ending at offset
  line_splitter splitter;
  log_fd fd;  // kept open between passes while the source has room
};

// The buffer one pass reads through: large enough for any line the
// splitter waits for (max_line) and then some.
std::vector<char>& log_read_buffer();

// Opens `path` for reading (no controlling tty, close-on-exec, no blocking
// on a FIFO); -1 with errno set on failure.
int open_log(const std::string& path);

// Reads `f` from its offset up to `end` bytes into the file (or its end,
// if sooner), feeding lines to `sink`, until the pass must stop. With
// `final` the file will not grow (rotated away, a copy): its last line
// counts without a newline. Returns false when the bytes before the
// offset are no longer the ones read (truncated and written again).
bool read_log_file(int fd, followed_file& f, std::uint64_t end, bool final, read_pass& pass, line_sink& sink);

// True when the bytes before f.offset in `fd` are still f.tail.
bool still_same_content(int fd, const followed_file& f);

// Starts `f` at `at` bytes into the file: the tail before it is read, and
// a position inside a line drops that line's rest. For a start at the end
// (no backfill) and for a skip past the read budget.
void start_log_at(int fd, followed_file& f, std::uint64_t at);

// The file with identity `id` in `dir` (a rotated file renamed beside its
// old name), or nullopt.
std::optional<std::string> find_renamed_log(const std::string& dir, file_identity id);

// The copy logrotate's copytruncate made of `f` before truncating it: a
// file beside it, named after it (app.log.1, app.log-20240501), at least
// f.offset bytes long and holding f.tail just before that point.
std::optional<file_seen> find_log_copy(const followed_file& f);

std::string log_directory_of(const std::string& path);
std::string log_base_name(const std::string& path);

}  // namespace vitals
