#pragma once

#include "probes/core/proc_text.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace vitals {

// The process holding a socket open: `lsof -i :PORT` without lsof.
using socket_owner = process_identity;

// One listening TCP socket, from sock_diag netlink or /proc/net/tcp{,6}.
struct port_listener {
  std::string address;  // local address as text: "127.0.0.1", "::", "0.0.0.0"
  std::uint16_t port = 0;
  std::uint64_t inode = 0;
  uid_t socket_uid = 0;          // the socket's own uid: known even when the fds are not readable
  std::string socket_user;
  // Empty: no readable /proc/<pid>/fd holds the inode. When several
  // processes share the socket (a prefork server), the lowest pid.
  std::optional<socket_owner> owner;
};

}  // namespace vitals
