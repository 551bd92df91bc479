#pragma once

#include "probes/port/port_listener.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace vitals {

// Who holds each listening socket, remembered from one refresh to the next.
// Finding an owner means reading every /proc/<pid>/fd link of the host (a
// walk); checking a remembered one takes a readlink and a read of its
// /proc/<pid>/stat. So a refresh walks only when a listener is new, when a
// remembered owner no longer holds its socket (the fd links elsewhere, or
// the pid now belongs to a process with another start time), or when a
// listener nobody could be seen holding was last looked for
// `hidden_recheck` ago. A walk names the lowest pid holding each socket, as
// a walk on every refresh would; a lower pid that starts holding a socket
// later (handed over through a unix socket) is seen at the next walk.
//
// The owner's name is compared with its stat on every refresh, and a
// process younger than `settle_time` (which may still exec, drop privileges
// or set its title) has comm, user and cmdline read again every time.
//
// Not thread-safe: one refresh at a time (socket_owner_index runs them one
// after another on the pool); walks() may be read from any thread.
class socket_owner_cache {
public:
  static constexpr std::chrono::seconds default_settle_time{10};
  static constexpr std::chrono::seconds default_hidden_recheck{300};
  // User names are looked up again after this, so a renamed user shows.
  static constexpr std::chrono::seconds user_names_max_age{60};

  explicit socket_owner_cache(std::string proc_root = "/proc") : proc_root_(std::move(proc_root)) {}

  // Sets `socket_user` and `owner` of every listener (inode and socket_uid
  // filled) and forgets sockets no longer listed. Returns true when the last
  // walk met a /proc/<pid>/fd it may not read (EACCES): an owner may be
  // hidden there. Throws nothing but std::bad_alloc; processes vanishing
  // meanwhile are skipped.
  bool assign_owners(std::vector<port_listener>& listeners);

  void set_settle_time(std::chrono::steady_clock::duration d) { settle_time_ = d; }
  void set_hidden_recheck(std::chrono::steady_clock::duration d) { hidden_recheck_ = d; }
  // Walks of every /proc/<pid>/fd so far.
  std::uint64_t walks() const { return walks_.load(std::memory_order_relaxed); }

private:
  struct held_socket {
    std::optional<socket_owner> owner;  // nullopt: nobody visible held it at the last walk
    int fd = -1;                        // the owner's fd number for it
    std::optional<std::uint64_t> start_ticks;  // the owner's start time; nullopt: unknown, walk again
  };
  class refresh;  // one assign_owners(): what it read, read once

  bool needs_walk(const std::vector<port_listener>& listeners, std::chrono::steady_clock::time_point now) const;
  // Whether the remembered owner still holds socket `inode`; refreshes its identity when it may have changed.
  bool still_held(std::uint64_t inode, held_socket& held, refresh& r) const;
  void walk(const std::vector<port_listener>& listeners, refresh& r);

  std::string proc_root_;
  std::chrono::steady_clock::duration settle_time_ = default_settle_time;
  std::chrono::steady_clock::duration hidden_recheck_ = default_hidden_recheck;
  std::unordered_map<std::uint64_t, held_socket> sockets_;  // by inode; only those listed at the last refresh
  bool permission_denied_ = false;                          // at the last walk
  std::chrono::steady_clock::time_point walked_at_{};
  // uid -> name between refreshes: each lookup reads /etc/passwd.
  user_names users_;
  std::chrono::steady_clock::time_point users_since_{};
  std::atomic<std::uint64_t> walks_{0};
};

}  // namespace vitals
