#pragma once

// Tiny probe kinds for config tests, so they depend on no real probe.

#include "daemon/app/config.hpp"
#include "probes/core/node_reader.hpp"
#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace vitals::test_kinds {

// `type: fake` with `target: host:port` (required) and `token` (optional):
// enough to exercise a kind reading its own keys and reporting errors.
class fake_probe final : public probe {
public:
  static constexpr std::string_view type = "fake";

  fake_probe(std::string target, std::string token) : target_(std::move(target)), token_(std::move(token)) {}

  // How many fake probes have been built (not just read), in this process.
  static inline int built = 0;

  static probe_builder create(const probe_settings&, node_reader& reader) {
    auto token = reader.string("token");
    if (!reader.require("target")) return {};
    auto target = reader.string("target");
    if (!target) return {};
    auto colon = target->rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == target->size()) {
      reader.error("target", "expected host:port, got " + reader.shown("target"));
      return {};
    }
    return [target = *target, token = token.value_or("")](const probe_context&) {
      ++built;
      return std::make_unique<fake_probe>(target, token);
    };
  }
  static std::span<const metric_info> metrics() { return {}; }
  static std::span<const builtin_alert> alerts() { return {}; }

  asio::awaitable<probe_result> run() override { co_return probe_result::success(); }
  std::string target() const override { return target_; }
  const std::string& token() const { return token_; }

private:
  std::string target_;
  std::string token_;
};

// `type: noop`: no keys of its own.
class noop_probe final : public probe {
public:
  static constexpr std::string_view type = "noop";

  static probe_builder create(const probe_settings&, node_reader&) {
    return [](const probe_context&) { return std::make_unique<noop_probe>(); };
  }
  static std::span<const metric_info> metrics() { return {}; }
  static std::span<const builtin_alert> alerts() { return {}; }

  asio::awaitable<probe_result> run() override { co_return probe_result::success(); }
  std::string target() const override { return "nothing"; }
};

// A registry with the test kinds and the context a factory needs.
struct test_loader {
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  probe_registry registry;

  test_loader() {
    registry.add<fake_probe>();
    registry.add<noop_probe>();
  }
  ~test_loader() { pool.join(); }

  load_result load(const std::string& yaml) { return load_config_text(yaml, "test.yaml", registry, ctx); }
  // Reads and validates only, as `vitalsd validate` and `rules` do.
  load_result validate(const std::string& yaml) { return load_config_text(yaml, "test.yaml", registry); }
  // Loads a new version of the file over a running config, as a reload does.
  load_result reload(const std::string& yaml, const config& running) {
    return load_config_text(yaml, "test.yaml", registry, {.build = &ctx, .previous = &running});
  }
};

}  // namespace vitals::test_kinds
