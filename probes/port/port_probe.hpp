#pragma once

#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/net/host_addresses.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

class node_reader;
struct probe_settings;

// `type: port` — TCP connect to host:port (or a range), and for local
// targets the listening socket's owner (pid, process, user, cmdline).
// Failure reasons: refused, unreachable, timeout (the kernel's, not the
// scheduler's), resolve, conflict, in_use, owner_unknown, error.
// See docs/probes/port.md.
class port_probe final : public probe {
public:
  static constexpr std::string_view type = "port";

  struct settings {
    std::string host = "127.0.0.1";     // IP literal ("::1" or "[::1]") or a name
    std::vector<std::uint16_t> ports;   // sorted, no duplicates, 1..max_ports_per_probe
    bool expect_open = true;         // expect: open|closed
    std::string expect_process;      // owner's process name must match
  };

  // `ctx` must outlive the probe. Reads this host's addresses once
  // (getifaddrs) to know whether owners can be looked up.
  port_probe(settings s, const probe_context& ctx);

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  asio::awaitable<probe_result> run() override;
  std::string target() const override;

  const settings& config() const { return settings_; }

private:
  bool is_local(const asio::ip::address& a) const;

  settings settings_;
  const probe_context* ctx_;
  std::string host_;                              // settings_.host without [brackets]
  std::optional<asio::ip::address> literal_;      // host_ when it is an IP literal
  address_list host_addresses_;  // this host's interface addresses
  bool local_ = false;  // literal target on this host: owners can be looked up
};

}  // namespace vitals
