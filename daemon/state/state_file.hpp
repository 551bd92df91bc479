#pragma once

// The state file as its path shows it, apart from SQLite: which file is
// there (device and inode), and what became of the one the store opened.
// SQLite goes on writing to a file that was deleted or replaced, and reads
// one emptied under it from its cache, so the store asks here before each
// call. Blocking (stat); pure otherwise, and safe on any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace vitals {

// A file's identity: another file put at the same path has another one.
struct file_id {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  bool operator==(const file_id&) const = default;
};

// The identity of what is at `path`; nullopt when nothing is (or it cannot be looked at).
std::optional<file_id> id_of(const std::string& path);

// True when `path` is a file of 0 bytes.
bool is_empty_file(const std::string& path);

enum class file_change { none, deleted, replaced, emptied };

// What became of the file that was `opened` at `path`, from what is there
// now; `ec` is set (and none returned) when the path cannot be looked at.
file_change change_at(const std::string& path, file_id opened, std::error_code& ec);

// "was deleted", "was replaced by another file", "was emptied (0 bytes)".
const char* describe(file_change c);

// The WAL and shared-memory files SQLite keeps beside a database, as they
// were when it opened them.
struct wal_files {
  std::optional<file_id> wal;
  std::optional<file_id> shm;
};
wal_files wal_files_of(const std::string& path);

// Removes `path`-wal and `path`-shm where they are still the files in
// `ours`. A WAL left behind by a lost file would be replayed by SQLite into
// whatever file is put at the path next.
void remove_wal_files(const std::string& path, const wal_files& ours);

// The state file holds every probe's evidence, so it is private to the
// daemon's user: created 0600 whatever the umask (SQLite gives its -wal and
// -shm files the database file's mode). Nothing is there yet: creates it
// empty (no one can open it with wider rights meanwhile); something is
// (EEXIST, another process was first): leaves it. False with `ec` otherwise.
bool create_private_file(const std::string& path, std::error_code& ec);

// One line saying who else can reach the state when the directory `path` is
// in lets anyone but its owner in (mode beyond 0700) or the file is readable
// by them, with the command that closes it; nullopt when both are private.
// The daemon never changes them itself: the directory is made by systemd or
// the package (a missing one may be a volume not mounted yet, so the store
// waits for it), and its mode is the administrator's to decide.
std::optional<std::string> exposure_warning(const std::string& path);

}  // namespace vitals
