#pragma once

#include "probes/port/port_listener.hpp"
#include "probes/port/socket_owner_cache.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace vitals {

namespace asio = boost::asio;

// One scan of /proc: every listening TCP socket and who holds it.
struct owner_snapshot {
  std::vector<port_listener> listeners;
  // Some /proc/<pid>/fd could not be read (EACCES): an owner may be hidden there.
  bool permission_denied = false;
  std::chrono::steady_clock::time_point taken_at{};
  // Where `listeners` came from: "netlink" (sock_diag) or "proc" (/proc/net/tcp{,6} text).
  std::string listeners_source;

  std::vector<const port_listener*> find(std::uint16_t port) const;
};

// Shared socket-inode -> owner index, one per io_context (an Asio service:
// asio::use_service<socket_owner_index>(io)). However many port probes ask,
// the listeners are listed at most once per max_age, on the thread pool, and
// only when someone asks; callers arriving while a scan runs wait for that
// scan. Owners come from a socket_owner_cache: most scans re-verify the
// owners found before instead of walking every /proc/<pid>/fd.
// Used from the loop thread only.
class socket_owner_index : public asio::execution_context::service {
public:
  using key_type = socket_owner_index;
  static inline asio::execution_context::id id;

  // Takes the io_context itself (not a bare execution_context): the wake-up
  // timer needs its executor. asio::use_service<socket_owner_index>(io)
  // passes it.
  explicit socket_owner_index(asio::io_context& io);

  // A snapshot no older than max_age. Must be awaited on the loop; the scan
  // itself runs on `pool`. Cancelling the caller only stops its wait: the
  // shared scan runs on for the others.
  asio::awaitable<std::shared_ptr<const owner_snapshot>> async_snapshot(asio::thread_pool& pool);
  // Same, but also taken no earlier than `not_before`: for a caller that
  // knows something changed since the current snapshot (a port that just
  // accepted a connection is missing from it).
  asio::awaitable<std::shared_ptr<const owner_snapshot>> async_snapshot(
      asio::thread_pool& pool, std::chrono::steady_clock::time_point not_before);

  void set_max_age(std::chrono::steady_clock::duration d) { max_age_ = d; }
  // See socket_owner_cache; for tests, before the first snapshot.
  void set_owner_settle_time(std::chrono::steady_clock::duration d) { owners_->set_settle_time(d); }
  std::uint64_t scans() const { return scans_; }            // scans started so far
  std::uint64_t owner_walks() const { return owners_->walks(); }  // of those, walks of every /proc/<pid>/fd
  std::size_t waiting() const { return waiting_; }           // callers parked on a scan

  // One blocking scan of `proc_root` (a /proc-like tree) that walks every
  // /proc/<pid>/fd; safe on any thread (touches no member). Throws nothing
  // but std::bad_alloc: processes vanishing mid-scan are skipped, unreadable
  // fd tables set permission_denied. For the real "/proc" the listeners come
  // from listeners_from_netlink(); after its first failure, for the rest of
  // the process's life, from listeners_from_proc().
  static owner_snapshot scan(const std::string& proc_root = "/proc");
  // The same with owners from `owners`, which remembers them between scans.
  static owner_snapshot scan(const std::string& proc_root, socket_owner_cache& owners);

  // This network namespace's listening TCP sockets via NETLINK_SOCK_DIAG
  // (as `ss -lt` does); on failure sets `ec` and returns none.
  static std::vector<port_listener> listeners_from_netlink(std::error_code& ec);
  // The same read from `proc_root`/net/tcp{,6}; a missing file lists nothing.
  static std::vector<port_listener> listeners_from_proc(const std::string& proc_root);
  // Both fill address, port, inode and socket_uid only; scan() adds the rest.

private:
  void shutdown() override;
  void start_scan(asio::thread_pool& pool);
  asio::awaitable<void> run_scan(asio::thread_pool& pool);

  asio::io_context& io_;  // owns this service
  // Shared with the scan on the pool, which may outlive this service when
  // the io_context goes first; touched by one scan at a time (scanning_).
  std::shared_ptr<socket_owner_cache> owners_ = std::make_shared<socket_owner_cache>();

  std::chrono::steady_clock::duration max_age_ = std::chrono::seconds(1);
  std::shared_ptr<const owner_snapshot> current_;
  bool scanning_ = false;
  std::chrono::steady_clock::time_point scan_started_at_{};
  std::size_t waiting_ = 0;
  std::uint64_t scans_ = 0;
  std::uint64_t generation_ = 0;
  // Waiters park on this timer (never expires); finishing a scan bumps
  // generation_ and cancels it to wake them all. Reset in shutdown().
  std::unique_ptr<asio::steady_timer> scan_done_;
};

}  // namespace vitals
