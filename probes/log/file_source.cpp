#include "probes/log/file_source.hpp"

#include "probes/core/units.hpp"
#include "probes/core/valid_text.hpp"

#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

namespace vitals {

namespace {

std::string quoted(const std::string& path) { return printable(path); }

std::string uid_text() { return " (vitalsd runs as uid " + std::to_string(::geteuid()) + ")"; }

// The paths `pattern` matches, sorted; a glob error's errno in `error`.
std::vector<std::string> expand(const std::string& pattern, int& error) {
  static thread_local int first_error;
  first_error = 0;
  glob_t g{};
  const int rc = ::glob(
      pattern.c_str(), GLOB_NOSORT,
      [](const char*, int e) {
        if (first_error == 0) first_error = e;
        return 0;  // carry on: one unreadable directory must not hide the rest
      },
      &g);
  std::vector<std::string> paths;
  if (rc == 0)
    for (std::size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  error = first_error;
  std::sort(paths.begin(), paths.end());
  return paths;
}

// Fair shares of `budget` for files with `pending` bytes each: every file
// gets what it needs up to an equal part of what is left, the smallest
// first, so one busy file cannot starve the quiet ones.
std::vector<std::uint64_t> share(const std::vector<std::uint64_t>& pending, std::uint64_t budget) {
  std::vector<std::size_t> order(pending.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return pending[a] < pending[b]; });
  std::vector<std::uint64_t> given(pending.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::uint64_t fair = budget / (order.size() - k);
    given[order[k]] = std::min(pending[order[k]], fair);
    budget -= given[order[k]];
  }
  return given;
}

// offset + budget without wrapping around (max_read_per_run may be huge).
std::uint64_t up_to(std::uint64_t offset, std::uint64_t budget) {
  return budget > std::numeric_limits<std::uint64_t>::max() - offset ? std::numeric_limits<std::uint64_t>::max()
                                                                     : offset + budget;
}

}  // namespace

file_source::file_source(std::string path, std::size_t max_files, line_sink& sink)
    : path_(std::move(path)), glob_(is_glob(path_)), max_files_(max_files), sink_(&sink) {}

bool file_source::is_glob(const std::string& path) { return path.find_first_of("*?[") != std::string::npos; }

std::string file_source::following() const {
  if (!glob_) return files_.empty() ? "nothing yet" : quoted(files_.begin()->second.path);
  std::string text =
      std::to_string(files_.size()) + " file" + (files_.size() == 1 ? "" : "s") + " matching " + quoted(path_);
  if (matched_ > max_files_)
    text += " (" + std::to_string(matched_) + " match; max_files is " + std::to_string(max_files_) + ")";
  return text;
}

// What stat() says about the path or the glob's matches. A single path's
// problems fail the pass; a glob skips what is not a regular file.
std::vector<file_seen> file_source::look(read_pass& pass) {
  std::vector<file_seen> seen;
  int glob_error = 0;
  std::vector<std::string> paths = glob_ ? expand(path_, glob_error) : std::vector<std::string>{path_};
  // A directory that could not be listed (out of descriptors, no
  // permission) may still hold followed files: none is taken for gone.
  complete_ = glob_error == 0 || glob_error == ENOENT || glob_error == ENOTDIR;
  matched_ = paths.size();
  if (paths.size() > max_files_) paths.resize(max_files_);
  std::size_t denied = 0;
  std::string first_denied;
  std::set<file_identity> ids;
  for (const auto& path : paths) {
    if (pass.should_stop()) {
      complete_ = false;  // the rest were not looked at
      break;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      const int e = errno;
      if (e != ENOENT && e != ENOTDIR) complete_ = false;
      if (e == EACCES) {
        if (denied++ == 0) first_denied = path;
      } else if (!glob_ && (e == ENOENT || e == ENOTDIR)) {
        missing_ = true;  // reported once vanished files are known: it may have been rotated away
      } else if (!glob_) {
        pass.fail("error", "cannot read " + quoted(path) + ": " + std::strerror(e));
      }
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      if (!glob_)
        pass.fail("not_a_file", quoted(path) + " is " + (S_ISDIR(st.st_mode) ? "a directory" : "not a regular file") +
                                    ", not a log file");
      continue;
    }
    const file_identity id{st.st_dev, st.st_ino};
    if (!ids.insert(id).second) continue;  // another name (a symlink, a hard link) of a file matched already
    seen.push_back(file_seen{path, id, static_cast<std::uint64_t>(st.st_size)});
  }
  if (!seen.empty()) rotated_to_.clear();
  if (glob_ && glob_error == EACCES && paths.empty())
    pass.fail("permission", "cannot search the directories of " + quoted(path_) + ": permission denied" + uid_text());
  else if (glob_ && paths.empty() && !complete_)
    pass.fail("error", "cannot list the directories of " + quoted(path_) + ": " + std::strerror(glob_error));
  else if (glob_ && paths.empty())
    pass.fail("missing", "no file matches " + quoted(path_));
  if (denied > 0)
    pass.fail("permission", "cannot read " + quoted(first_denied) +
                                (denied > 1 ? " and " + std::to_string(denied - 1) + " more" : "") +
                                ": permission denied" + uid_text());
  return seen;
}

void file_source::read(read_pass& pass) {
  kept_open_ = 0;
  for (const auto& [id, f] : files_) kept_open_ += f.fd ? 1 : 0;
  for (const auto& f : rotated_) kept_open_ += f.fd ? 1 : 0;
  missing_ = false;
  const auto seen = look(pass);
  std::map<file_identity, const file_seen*> by_id;
  for (const auto& s : seen) by_id.emplace(s.id, &s);

  // A retired file under a followed name again (renamed out and back, or
  // its directory listed again after a failure): followed on from where
  // reading was, never from its beginning.
  for (auto it = rotated_.begin(); it != rotated_.end();) {
    if (!by_id.contains(it->id) || files_.contains(it->id)) {
      ++it;
      continue;
    }
    const file_identity id = it->id;
    files_.emplace(id, std::move(*it));
    it = rotated_.erase(it);
  }
  // Rotated files first: their lines are older than the new file's.
  read_rotated(pass);
  // Files no longer under any matching name: renamed away or deleted. Only
  // when every name was looked at: a listing that failed proves nothing.
  for (auto it = files_.begin(); complete_ && it != files_.end() && !pass.should_stop();) {
    if (by_id.contains(it->first)) {
      ++it;
      continue;
    }
    retire(std::move(it->second), pass);
    it = files_.erase(it);
  }
  if (missing_ && !rotated_to_.empty())
    pass.fail("rotated_away", quoted(path_) + " was rotated away (now " + quoted(rotated_to_) +
                                  ") and nothing has been created in its place");
  else if (missing_)
    pass.fail("missing", quoted(path_) + " does not exist");
  // Files still followed: a new name (renamed within the glob), or
  // truncated (copytruncate), possibly written again past where reading was.
  std::map<file_identity, std::uint64_t> claimed;  // copies read here, and up to where
  for (auto& [id, f] : files_) {
    const auto found = by_id.find(id);
    if (found == by_id.end()) continue;  // not seen this pass (see above): waits for the next
    const auto* s = found->second;
    f.path = s->path;
    bool truncated = s->size < f.offset;
    if (!truncated && s->size > f.offset && !f.tail.empty()) {
      const log_fd opened(f.fd ? -1 : open_log(f.path));
      const int fd = f.fd ? f.fd.get() : opened.get();
      truncated = fd >= 0 && !still_same_content(fd, f);
    }
    if (truncated) recover_copy(f, pass, claimed);
  }
  for (const auto& s : seen)
    if (!files_.contains(s.id) && !pass.should_stop()) follow_new(s, pass, claimed);
  read_within_budget(seen, pass);
}

// The descriptor to read a rotated file through: the kept one, or the file
// opened again under its new name (looked up again if renamed once more).
int file_source::reopen_rotated(followed_file& f, log_fd& opened) {
  if (f.fd) return f.fd.get();
  for (int attempt = 0; attempt < 2; ++attempt) {
    opened = log_fd(open_log(f.path));
    struct stat st {};
    if (opened && ::fstat(opened.get(), &st) == 0 && file_identity{st.st_dev, st.st_ino} == f.id) return opened.get();
    opened = log_fd();
    const auto renamed = find_renamed_log(log_directory_of(f.path), f.id);
    if (!renamed) break;
    f.path = *renamed;
  }
  return -1;
}

void file_source::retire(followed_file f, read_pass& pass) {
  const auto renamed = find_renamed_log(log_directory_of(f.path), f.id);
  if (renamed && !glob_ && log_base_name(*renamed) != log_base_name(path_)) rotated_to_ = *renamed;
  const std::string old_path = f.path;
  if (renamed) f.path = *renamed;
  log_fd opened;
  const int fd = reopen_rotated(f, opened);
  if (fd < 0) {
    pass.note("rotated", quoted(old_path) +
                             " was removed before it could be read to its end; lines written to it "
                             "after the last run are missed");
    return;
  }
  const std::uint64_t before = f.offset;
  read_rotated_part(fd, f, pass);
  pass.note("rotated", quoted(old_path) + (renamed ? " was renamed to " + quoted(*renamed) : " was removed") +
                           "; read on until its writer moves on (" +
                           format_bytes(static_cast<double>(f.offset - before)) + " more)");
  if (!f.fd && opened && kept_open_ < max_kept_open) {
    f.fd = std::move(opened);
    ++kept_open_;
  }
  rotated_.push_back(std::move(f));
  if (rotated_.size() > max_rotated) {
    finish(rotated_.front(), pass);
    rotated_.erase(rotated_.begin());
  }
}

void file_source::read_rotated(read_pass& pass) {
  for (auto it = rotated_.begin(); it != rotated_.end() && !pass.should_stop();) {
    log_fd opened;
    const int fd = reopen_rotated(*it, opened);
    const std::uint64_t before = it->offset;
    if (fd >= 0) read_rotated_part(fd, *it, pass);
    // More than a waiting line left unread: the budget ran out, not the writer.
    struct stat st {};
    const bool unread = fd >= 0 && ::fstat(fd, &st) == 0 &&
                        static_cast<std::uint64_t>(st.st_size) > it->offset + it->splitter.max_line();
    // Nothing new since the last pass: the writer has moved on.
    if (fd < 0 || (it->offset == before && !unread)) {
      finish(*it, pass);
      it = rotated_.erase(it);
    } else {
      ++it;
    }
  }
}

// What the budget allows of a rotated file; the rest waits for the next
// pass (it counts as growth, so the file stays followed until read).
void file_source::read_rotated_part(int fd, followed_file& f, read_pass& pass) {
  const std::uint64_t before = f.offset;
  read_log_file(fd, f, up_to(f.offset, pass.budget), false, pass, *sink_);
  pass.budget -= std::min(pass.budget, f.offset - before);
}

void file_source::read_final(int fd, followed_file& f, read_pass& pass) {
  struct stat st {};
  if (::fstat(fd, &st) == 0) {
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > f.offset && size - f.offset > pass.budget) {
      const std::uint64_t skip = size - f.offset - pass.budget;
      start_log_at(fd, f, f.offset + skip);
      pass.tally.skipped(skip);
      pass.note("skipped", format_bytes(static_cast<double>(skip)) + " of " + quoted(f.path) +
                               " not read: more was left in it than max_read_per_run allows");
    }
  }
  const std::uint64_t before = f.offset;
  read_log_file(fd, f, up_to(f.offset, pass.budget), true, pass, *sink_);
  pass.budget -= std::min(pass.budget, f.offset - before);
}

void file_source::finish(followed_file& f, read_pass& pass) {
  log_fd opened;
  const int fd = reopen_rotated(f, opened);
  if (fd >= 0) read_final(fd, f, pass);
}

void file_source::recover_copy(followed_file& f, read_pass& pass, std::map<file_identity, std::uint64_t>& claimed) {
  std::string text = quoted(f.path) + " was truncated (copytruncate)";
  if (const auto copy = find_log_copy(f)) {
    const log_fd fd(open_log(copy->path));
    followed_file from_copy{copy->path, copy->id, f.offset, f.tail, f.splitter, {}};
    if (fd) {
      read_final(fd.get(), from_copy, pass);
      claimed[copy->id] = from_copy.offset;
      text += "; the rest was read from its copy " + quoted(copy->path);
    }
  } else {
    text += "; no copy of it was found, so lines written just before the truncation may be missed";
  }
  pass.note("rotated", text);
  f.offset = 0;
  f.tail.clear();
  f.splitter.reset();
}

void file_source::follow_new(const file_seen& s, read_pass& pass,
                             const std::map<file_identity, std::uint64_t>& claimed) {
  followed_file f;
  f.path = s.path;
  f.id = s.id;
  const auto copy = claimed.find(s.id);
  const std::uint64_t start = copy != claimed.end() ? copy->second : pass.start_at_end() ? s.size : 0;
  // Opened now while there is room, so lines written before a rename or a
  // removal (docker rm) can still be read even if none was read yet.
  log_fd fd(open_log(s.path));
  if (!fd && (errno == EACCES || errno == EPERM)) {
    pass.fail("permission", "cannot read " + quoted(s.path) + ": permission denied" + uid_text());
    return;
  }
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || file_identity{st.st_dev, st.st_ino} != s.id)
    return;  // gone or replaced since stat: seen again next pass
  if (start > 0) start_log_at(fd.get(), f, start);
  if (kept_open_ < max_kept_open) {
    f.fd = std::move(fd);
    ++kept_open_;
  }
  files_.emplace(s.id, std::move(f));
}

void file_source::read_within_budget(const std::vector<file_seen>& seen, read_pass& pass) {
  std::vector<followed_file*> files;
  std::vector<std::uint64_t> pending;
  for (const auto& s : seen) {
    const auto it = files_.find(s.id);  // absent when it could not be opened
    if (it == files_.end() || s.size <= it->second.offset) continue;
    files.push_back(&it->second);
    pending.push_back(s.size - it->second.offset);
  }
  const auto given = share(pending, pass.budget);
  for (std::size_t i = 0; i < files.size() && !pass.should_stop(); ++i) {
    auto& f = *files[i];
    const std::uint64_t end = f.offset + pending[i];
    if (given[i] < pending[i]) {
      // Behind by more than the budget: skip to the newest bytes it allows.
      const std::uint64_t skip = pending[i] - given[i];
      const log_fd opened(f.fd ? -1 : open_log(f.path));
      const int fd = f.fd ? f.fd.get() : opened.get();
      if (fd >= 0) start_log_at(fd, f, f.offset + skip);
      pass.tally.skipped(skip);
      pass.note("skipped", format_bytes(static_cast<double>(skip)) + " of " + quoted(f.path) +
                               " not read: more was written since the last run than max_read_per_run allows");
    }
    pass.budget -= given[i];
    read_one(f, end, pass);
  }
}

void file_source::read_one(followed_file& f, std::uint64_t end, read_pass& pass) {
  log_fd opened;
  if (!f.fd) {
    opened = log_fd(open_log(f.path));
    if (!opened) {
      if (errno == EACCES)
        pass.fail("permission", "cannot read " + quoted(f.path) + ": permission denied" + uid_text());
      return;
    }
    struct stat st {};
    if (::fstat(opened.get(), &st) != 0 || file_identity{st.st_dev, st.st_ino} != f.id) return;  // renamed meanwhile
  }
  const int fd = f.fd ? f.fd.get() : opened.get();
  if (!read_log_file(fd, f, end, false, pass, *sink_)) return;  // rewritten meanwhile: seen next pass
  if (opened && kept_open_ < max_kept_open) {
    f.fd = std::move(opened);
    ++kept_open_;
  }
}

void file_source::finish_all(read_pass& pass) {
  for (auto& f : rotated_) finish(f, pass);
  for (auto& [id, f] : files_) finish(f, pass);
  rotated_.clear();
  files_.clear();
  kept_open_ = 0;
}

}  // namespace vitals
