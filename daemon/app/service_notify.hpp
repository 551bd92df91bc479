#pragma once

// Tells systemd how the daemon is doing, when it runs under it
// (Type=notify): one datagram per state to $NOTIFY_SOCKET. Without that
// variable every call does nothing, so the daemon runs the same anywhere.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace vitals {

class service_notify {
public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
  service_notify();

  bool enabled() const { return !socket_path_.empty(); }

  // How often to send WATCHDOG=1 (half the watchdog timeout), when systemd
  // asked for pings from this process.
  std::optional<std::chrono::microseconds> watchdog_period() const { return watchdog_period_; }

  void ready(std::string_view status = {});
  void reloading();
  void stopping();
  void watchdog();
  void status(std::string_view text);

  // Sends one message; false when it could not be delivered.
  bool send(std::string_view message) const;

private:
  std::string socket_path_;  // '@' first: an abstract socket
  std::optional<std::chrono::microseconds> watchdog_period_;
};

}  // namespace vitals
