#pragma once

// `vitalsd run` started by hand as root: every probe then reads with root's
// rights, and the HTTP endpoints serve what it read to whoever reaches the
// listener. systemd's unit runs the daemon as `vitals`; started by systemd
// (INVOCATION_ID set, whatever the unit) the user is the unit's choice.

#include <optional>
#include <string>

#include <sys/types.h>

namespace vitals {

// The one-line warning for a daemon running with effective user `euid`,
// or nullopt when there is nothing to warn about. `invocation_id` is
// $INVOCATION_ID (null when unset), which systemd gives every process it
// starts for a unit; `config_path` goes into the command it suggests.
std::optional<std::string> root_warning(uid_t euid, const char* invocation_id, const std::string& config_path);

// Logs root_warning() for this process, once, at start.
void warn_when_root_outside_systemd(const std::string& config_path);

}  // namespace vitals
