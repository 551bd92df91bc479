#include "daemon/app/service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace vitals {

namespace {

std::optional<unsigned long long> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  unsigned long long n = 0;
  const auto end = v + std::strlen(v);
  const auto [p, ec] = std::from_chars(v, end, n);
  if (ec != std::errc() || p != end) return std::nullopt;
  return n;
}

}  // namespace

service_notify::service_notify() {
  if (const char* path = std::getenv("NOTIFY_SOCKET"); path && (path[0] == '/' || path[0] == '@'))
    socket_path_ = path;
  // The watchdog is meant for this process only when WATCHDOG_PID, if set, is ours.
  const auto pid = env_number("WATCHDOG_PID");
  const auto usec = env_number("WATCHDOG_USEC");
  if (usec && *usec > 0 && (!pid || *pid == static_cast<unsigned long long>(::getpid())))
    watchdog_period_ = std::chrono::microseconds(*usec / 2);
}

bool service_notify::send(std::string_view message) const {
  if (socket_path_.empty()) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  else ++len;                                            // a path: count its NUL
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  // A datagram to a local socket: never blocks (non-blocking, and systemd
  // reads its notify socket promptly); a full queue just loses one message.
  const auto sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), len);
  ::close(fd);
  return sent == static_cast<ssize_t>(message.size());
}

void service_notify::ready(std::string_view status) {
  std::string m = "READY=1";
  if (!status.empty()) m += "\nSTATUS=" + std::string(status);
  send(m);
}

void service_notify::reloading() {
  // MONOTONIC_USEC lets a systemd that knows Type=notify-reload match the
  // reload to this message; older ones ignore it.
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1'000'000ULL + ts.tv_nsec / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void service_notify::stopping() { send("STOPPING=1"); }

void service_notify::watchdog() { send("WATCHDOG=1"); }

void service_notify::status(std::string_view text) { send("STATUS=" + std::string(text)); }

}  // namespace vitals
