#pragma once

#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/net/host_addresses.hpp"
#include "probes/redis/hiredis_asio.hpp"
#include "probes/redis/memory_limit.hpp"
#include "probes/redis/memory_limit_cache.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

class node_reader;
struct probe_settings;
struct redis_info;


// `type: redis` — one connection per probe, driven by hiredis' async API on
// the loop and kept open across runs: AUTH (when configured) and SELECT (when
// db is set) once per connection; every run PING (timed), then INFO and
// MEMORY DOCTOR in one pipeline. Any failure closes the connection and the
// next run opens a fresh one; a kept connection found dead (a server
// restart) is replaced within the same run.
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

  // Reads the memory limit of a local server by its pid (INFO process_id).
  // Blocking: called on the pool, so it must be thread-safe.
  using memory_limit_reader = std::function<memory_limit(std::optional<long>)>;

  // `ctx` must outlive the probe; so must ctx.io's loop, which the
  // connection's descriptor lives on. `read_limit` is replaceable for tests.
  redis_probe(settings s, const probe_context& ctx, memory_limit_reader read_limit = local_memory_limit);

  // Reads and checks its keys; opens nothing (see probe_factory).
  static probe_builder create(const probe_settings&, node_reader&);
  static std::span<const metric_info> metrics();
  static std::span<const builtin_alert> alerts();

  asio::awaitable<probe_result> run() override;
  std::string target() const override;

  const settings& config() const { return settings_; }

private:
  struct replies;  // what check() got

  // Opens connection_ (resolving a host name first), then AUTH and SELECT.
  // Returns the failure, with the connection closed, or nullopt.
  asio::awaitable<std::optional<probe_result>> open();
  // PING, then INFO and MEMORY DOCTOR, on the open connection.
  asio::awaitable<replies> check();
  // The memory limit of the local server INFO describes: cached, read on the
  // pool only when memory_limit_cache says so.
  asio::awaitable<memory_limit> limit_of(const redis_info& info);
  bool is_local(const asio::ip::address& a) const;
  // The server's text with the password (should it ever be echoed) removed,
  // cut to one line.
  std::string scrub(std::string_view text) const;

  settings settings_;
  const probe_context* ctx_;
  std::optional<asio::ip::address> literal_;       // settings_.host when an IP literal
  address_list host_addresses_;  // this host's interface addresses
  hiredis_connection connection_;  // kept across runs; closed after any failure
  bool local_ = false;             // the connected server runs on this host
  std::string resolved_;           // "cache.lan -> 10.0.0.5" of the connect, for names
  memory_limit_cache limits_;
  memory_limit_reader read_limit_;
};

}  // namespace vitals
