#include "probes/core/probe_registry.hpp"
#include "probes/disk/disk_probe.hpp"
#include "probes/http/http_probe.hpp"
#include "probes/log/log_probe.hpp"
#include "probes/port/port_probe.hpp"
#include "probes/postgres/postgres_probe.hpp"
#include "probes/process/process_probe.hpp"
#include "probes/redis/redis_probe.hpp"
#include "probes/sqlite/sqlite_probe.hpp"
#include "probes/websocket/websocket_probe.hpp"

namespace vitals {

// The one list of probe kinds: the YAML `type:` of each comes from its class.
// The order is that of their built-in alert rules in `vitalsd rules`.
void register_builtin_probes(probe_registry& registry) {
  registry.add<port_probe>();
  registry.add<websocket_probe>();
  registry.add<sqlite_probe>();
  registry.add<postgres_probe>();
  registry.add<redis_probe>();
  registry.add<process_probe>();
  registry.add<disk_probe>();
  registry.add<log_probe>();
  registry.add<http_probe>();
}

}  // namespace vitals
