#pragma once

// `path:` — one log file, or every file a glob matches, followed across
// rotation: rename-and-create (the old file, found by its inode beside its
// old name or through the descriptor kept open, is read on until a pass
// finds nothing new in it: its writer has reopened) and
// copytruncate (the size went down, or the bytes before the read position
// changed: the copy is found beside it and read from where reading had
// got to). Files matched for the first time after the first pass are read
// from their beginning; vanished ones are dropped. Runs on the pool.

#include "probes/log/file_follower.hpp"
#include "probes/log/log_source.hpp"

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vitals {

class file_source final : public log_source {
 public:
  static constexpr std::size_t default_max_files = 10'000;
  // Descriptors kept open between passes, per source: enough to read a
  // rotated-and-deleted file to its end, few enough to stay out of the way.
  static constexpr std::size_t max_kept_open = 32;
  // Rotated files read on at once; beyond it the oldest is finished.
  static constexpr std::size_t max_rotated = 8;

  // `sink` (not owned) receives the lines; it outlives the source.
  file_source(std::string path, std::size_t max_files, line_sink& sink);

  void read(read_pass& pass) override;
  std::size_t followed() const override { return files_.size(); }
  std::string following() const override;

  // Reads every followed file to its end and forgets it: the source is
  // going away (a container re-created under a new id).
  void finish_all(read_pass& pass);

  static bool is_glob(const std::string& path);

 private:
  using file_map = std::map<file_identity, followed_file>;

  std::vector<file_seen> look(read_pass& pass);
  // A followed file that left the followed names: read on (it may still be
  // written until its writer reopens), then finished by read_rotated().
  void retire(followed_file f, read_pass& pass);
  // Reads the retired files; one with nothing new is finished and let go.
  void read_rotated(read_pass& pass);
  // Reads `f` to its end, its last line counted even without a newline.
  void finish(followed_file& f, read_pass& pass);
  // Reads a file that will not grow (rotated, a copy) to its end within
  // the pass's budget; what does not fit is skipped, oldest bytes first.
  void read_final(int fd, followed_file& f, read_pass& pass);
  int reopen_rotated(followed_file& f, log_fd& opened);
  void read_rotated_part(int fd, followed_file& f, read_pass& pass);
  void recover_copy(followed_file& f, read_pass& pass, std::map<file_identity, std::uint64_t>& claimed);
  void follow_new(const file_seen& seen, read_pass& pass, const std::map<file_identity, std::uint64_t>& claimed);
  void read_within_budget(const std::vector<file_seen>& seen, read_pass& pass);
  void read_one(followed_file& f, std::uint64_t end, read_pass& pass);

  std::string path_;
  bool glob_;
  std::size_t max_files_;
  line_sink* sink_;
  file_map files_;
  std::vector<followed_file> rotated_;  // oldest first
  std::size_t kept_open_ = 0;
  std::size_t matched_ = 0;  // paths the last look matched (before max_files)
  std::string rotated_to_;   // a single path renamed away with nothing in its place
  bool missing_ = false;     // a single path that does not exist in this pass
  bool complete_ = true;     // the last look saw every name (no listing or stat failed, not cut short)
};

}  // namespace vitals
