#pragma once

// A state keeper on its own loop and one pool thread, writing a real SQLite
// file: what the daemon does with its store, driven a step at a time. The
// loop runs only inside open() and flush(), so a test decides what happens
// between writes.

#include "daemon/metrics/metrics.hpp"
#include "daemon/state/state_keeper.hpp"
#include "probes/core/probe_registry.hpp"

#include "support/run_until.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace vitals::test {

// A firing ProbeDown on `probe`, as the alert engine would hand it over.
inline alerts::alert_instance probe_down_on(const std::string& probe) {
  alerts::alert_instance a;
  a.rule = "ProbeDown";
  a.label_values = {{"alertname", "ProbeDown"}, {"probe", probe}, {"kind", "port"}, {"severity", "high"}};
  a.state = alerts::alert_state::firing;
  a.summary = probe + " (port) is down";
  a.runbook_url = "file:///usr/share/doc/vitals/runbooks/ProbeDown.md";
  return a;
}

struct keeper_on_file {
  asio::io_context io{1};
  asio::thread_pool pool{1};
  probe_registry registry;
  metrics telemetry{registry};
  state_keeper keeper{io, pool, telemetry};
  std::string path;

  explicit keeper_on_file(std::string state_path) : path(std::move(state_path)) {}
  ~keeper_on_file() { pool.join(); }

  // The alerts the file held (empty when it could not be read).
  std::vector<saved_alert> open(retention keep = {}) {
    std::optional<std::vector<saved_alert>> out;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { out = co_await keeper.open(path, keep); }, asio::detached);
    EXPECT_TRUE(run_until(io, [&] { return out.has_value(); }));
    return out.value_or(std::vector<saved_alert>{});
  }

  // Runs the loop until what was saved is written, or the write failed.
  void flush() {
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await keeper.flush(std::chrono::seconds(10));
          done = true;
        },
        asio::detached);
    EXPECT_TRUE(run_until(io, [&] { return done; }));
  }

  // "1" or "0": vitals_state_store_healthy as /metrics shows it.
  std::string healthy_gauge() {
    const auto text = telemetry.serialize();
    const std::string name = "\nvitals_state_store_healthy ";
    const auto at = text.find(name);
    return at == std::string::npos ? "" : text.substr(at + name.size(), 1);
  }
};

}  // namespace vitals::test
