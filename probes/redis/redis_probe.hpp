#pragma once

#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"

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


// `type: redis` — one fresh connection per run, driven by hiredis' async API
// on the loop: AUTH (when configured), SELECT (when db is set), PING (timed),
// then INFO and MEMORY DOCTOR in one pipeline; then disconnect.
// Failure reasons: refused, unreachable, resolve, auth, loading, busy, oom,
// protocol, closed, error (timeout comes from the scheduler).
// A reachable server is ok however full it is: memory thresholds belong to
// alert rules. See docs/probes/redis.md.
class redis_probe final : public probe {
public:
  static constexpr std::string_view type = "redis";

  struct settings {
    std::string host = "127.0.0.1";  // IP literal or name; unused with unix_path
    std::uint16_t port = 6379;
    std::string unix_path;           // unix socket instead of TCP when set
    std::string username;            // ACL user; empty: AUTH with the password only
    std::string password;            // secret: never logged, labelled or shown
    std::optional<int> db;           // SELECT when set
  };

  // `ctx` must outlive the probe.
  redis_probe(settings s, const probe_context& ctx);

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  asio::awaitable<probe_result> run() override;
  std::string target() const override;

  const settings& config() const { return settings_; }

private:
  bool is_local(const asio::ip::address& a) const;
  // The server's text with the password (should it ever be echoed) removed,
  // cut to one line.
  std::string scrub(std::string_view text) const;

  settings settings_;
  const probe_context* ctx_;
  std::optional<asio::ip::address> literal_;       // settings_.host when an IP literal
  std::vector<asio::ip::address> host_addresses_;  // this host's interface addresses
};

}  // namespace vitals
