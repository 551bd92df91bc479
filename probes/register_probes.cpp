#include "probes/port/port_probe.hpp"
#include "probes/postgres/postgres_probe.hpp"
#include "probes/probe_registry.hpp"

namespace vitals {

void register_builtin_probes(probe_registry& registry) {
  registry.add<port_probe>();
  registry.add<postgres_probe>();
}

}  // namespace vitals
