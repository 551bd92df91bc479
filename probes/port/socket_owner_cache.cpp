#include "probes/port/socket_owner_cache.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <string_view>

namespace vitals {

namespace {

using clock = std::chrono::steady_clock;

// RAII for opendir(); a walk opens one directory per process.
struct dir_closer {
  void operator()(DIR* d) const { ::closedir(d); }
};
using dir_ptr = std::unique_ptr<DIR, dir_closer>;

// "socket:[12345]" -> 12345.
bool socket_inode(std::string_view link, std::uint64_t& inode) {
  constexpr std::string_view prefix = "socket:[";
  if (!link.starts_with(prefix) || !link.ends_with(']')) return false;
  return parse_int(link.substr(prefix.size(), link.size() - prefix.size() - 1), inode);
}

}  // namespace

// What one assign_owners() read, each file once: the IPv4 and IPv6
// listeners of one server share its reads.
class socket_owner_cache::refresh {
public:
  refresh(const std::string& proc_root, user_names& users) : proc_root_(proc_root), users_(users) {}

  std::string dir(int pid) const { return proc_root_ + "/" + std::to_string(pid); }

  const std::optional<proc_stat>& stat_of(int pid) {
    auto [it, inserted] = stats_.try_emplace(pid);
    std::string text;
    if (inserted && read_proc_record(dir(pid) + "/stat", text) == 0) it->second = parse_proc_stat(text);
    return it->second;
  }

  const std::optional<socket_owner>& identity_of(int pid) {
    auto [it, inserted] = identities_.try_emplace(pid);
    if (inserted) it->second = read_process_identity(dir(pid), pid, users_);
    return it->second;
  }

  const std::uint64_t now_ticks = boot_clock_ticks();

private:
  const std::string& proc_root_;
  user_names& users_;
  std::map<int, std::optional<proc_stat>> stats_;
  std::map<int, std::optional<socket_owner>> identities_;
};

bool socket_owner_cache::assign_owners(std::vector<port_listener>& listeners) {
  const auto now = clock::now();
  if (now - users_since_ >= user_names_max_age) {
    users_ = user_names{};
    users_since_ = now;
  }
  for (auto& l : listeners) l.socket_user = users_.name(l.socket_uid);

  refresh r(proc_root_, users_);
  bool walk_now = needs_walk(listeners, now);
  for (std::size_t i = 0; i < listeners.size() && !walk_now; ++i)
    walk_now = !still_held(listeners[i].inode, sockets_.at(listeners[i].inode), r);

  if (walk_now) {
    walk(listeners, r);
  } else {
    std::unordered_map<std::uint64_t, held_socket> listed;  // closed listeners are forgotten
    for (const auto& l : listeners) listed.insert(sockets_.extract(l.inode));
    sockets_ = std::move(listed);
  }
  for (auto& l : listeners) l.owner = sockets_.at(l.inode).owner;
  return permission_denied_;
}

bool socket_owner_cache::needs_walk(const std::vector<port_listener>& listeners, clock::time_point now) const {
  bool hidden = false;
  for (const auto& l : listeners) {
    const auto it = sockets_.find(l.inode);
    if (it == sockets_.end()) return true;  // a new listener: nobody knows its owner yet
    hidden = hidden || !it->second.owner;
  }
  // A hidden owner usually stays hidden (another user's process), but one
  // may have been missed while a socket was being handed over.
  return hidden && now - walked_at_ >= hidden_recheck_;
}

bool socket_owner_cache::still_held(std::uint64_t inode, held_socket& held, refresh& r) const {
  if (!held.owner) return true;  // needs_walk() decides when to look for it again
  if (!held.start_ticks) return false;
  const int pid = held.owner->pid;
  // The link first, the start time second: a pid reused in between shows a
  // new start time, never the old process's identity.
  const std::string expected = "socket:[" + std::to_string(inode) + "]";
  char link[64];
  const std::string fd_path = r.dir(pid) + "/fd/" + std::to_string(held.fd);
  const ssize_t n = ::readlink(fd_path.c_str(), link, sizeof link);
  if (n <= 0 || std::string_view(link, static_cast<std::size_t>(n)) != expected) return false;
  const auto& stat = r.stat_of(pid);
  if (!stat || stat->start_ticks != *held.start_ticks) return false;  // another process under that pid
  if (stat->comm != held.owner->process || still_settling(*held.start_ticks, settle_time_, r.now_ticks)) {
    const auto& identity = r.identity_of(pid);
    if (!identity) return false;
    held.owner = identity;
  }
  return true;
}

void socket_owner_cache::walk(const std::vector<port_listener>& listeners, refresh& r) {
  walks_.fetch_add(1, std::memory_order_relaxed);
  walked_at_ = clock::now();
  permission_denied_ = false;

  // inode -> every pid holding it (lowest first) -> the first fd seen.
  std::unordered_map<std::uint64_t, std::map<int, int>> holders;
  for (const auto& l : listeners) holders.try_emplace(l.inode);

  if (dir_ptr proc{::opendir(proc_root_.c_str())}) {
    std::string link(256, '\0');
    while (const dirent* entry = ::readdir(proc.get())) {
      int pid = 0;
      if (!is_pid(entry->d_name, pid)) continue;
      const std::string fd_path = proc_root_ + "/" + entry->d_name + "/fd";
      dir_ptr fds(::opendir(fd_path.c_str()));
      if (!fds) {
        // EACCES/EPERM: another user's process and we lack CAP_SYS_PTRACE.
        // ENOENT/ESRCH: it exited since readdir — skipped silently.
        if (errno == EACCES || errno == EPERM) permission_denied_ = true;
        continue;
      }
      while (const dirent* fd_entry = ::readdir(fds.get())) {
        int fd = 0;
        if (!parse_int(std::string_view(fd_entry->d_name), fd)) continue;  // "." and ".."
        const ssize_t n = ::readlinkat(::dirfd(fds.get()), fd_entry->d_name, link.data(), link.size());
        if (n <= 0) continue;  // closed meanwhile
        std::uint64_t inode = 0;
        if (!socket_inode(std::string_view(link.data(), static_cast<std::size_t>(n)), inode)) continue;
        if (auto it = holders.find(inode); it != holders.end()) it->second.try_emplace(pid, fd);
      }
    }
  }

  std::unordered_map<std::uint64_t, held_socket> found;
  for (const auto& l : listeners) {
    held_socket held;
    for (const auto& [pid, fd] : holders[l.inode]) {
      const auto& identity = r.identity_of(pid);
      if (!identity) continue;  // exited since
      held.owner = identity;
      held.fd = fd;
      if (const auto& stat = r.stat_of(pid)) held.start_ticks = stat->start_ticks;
      break;
    }
    found.insert_or_assign(l.inode, std::move(held));
  }
  sockets_ = std::move(found);
}

}  // namespace vitals
