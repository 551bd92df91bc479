#include "daemon/app/root_warning.hpp"

#include "probes/core/valid_text.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>

namespace vitals {

std::optional<std::string> root_warning(uid_t euid, const char* invocation_id, const std::string& config_path) {
  if (euid != 0 || (invocation_id && *invocation_id)) return std::nullopt;
  return "running as root outside systemd: every probe reads with root's rights (any process's command line, "
         "owner and sockets; any file a probe names, SQLite databases and ${file:} secrets among them), the state "
         "store is written as root, and the HTTP endpoints show that evidence to whoever can reach them; run it as "
         "an unprivileged user instead: systemctl start vitalsd (the packaged unit runs it as vitals), or "
         "runuser -u vitals -- vitalsd run -c " +
         printable(config_path);
}

void warn_when_root_outside_systemd(const std::string& config_path) {
  if (const auto warning = root_warning(::geteuid(), std::getenv("INVOCATION_ID"), config_path))
    spdlog::warn("{}", *warning);
}

}  // namespace vitals
