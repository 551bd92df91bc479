#pragma once

#include "probes/core/probe.hpp"

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

class node_reader;
struct probe_settings;

// Makes one probe from settings already read and checked. May throw when
// the target cannot be set up (e.g. an unreadable CA file): a config error.
using probe_builder = std::function<std::unique_ptr<probe>(const probe_context&)>;

// Reads a probe's YAML mapping: its own keys from `reader` (every key it
// asks about counts as known), problems reported there. Returns the
// builder, or an empty one when the settings are unusable. Reading opens
// nothing, so `vitalsd validate` and `rules` build no probe.
using probe_factory = probe_builder (*)(const probe_settings&, node_reader&);

struct probe_kind {
  std::string_view type;                 // the YAML `type:` value
  probe_factory create;
  std::span<const metric_info> metrics;  // every kind-specific series it can produce
  std::span<const builtin_alert> alerts; // its built-in alert rules
};

// Maps `type:` to a probe kind. Filled once at start by
// register_builtin_probes(); read-only afterwards.
class probe_registry {
public:
  // P provides: static constexpr std::string_view type; static create(...);
  // static std::span<const metric_info> metrics();
  // static std::span<const builtin_alert> alerts().
  template <class P>
  void add() {
    kinds_.push_back(probe_kind{P::type, &P::create, P::metrics(), P::alerts()});
  }

  const probe_kind* find(std::string_view type) const;
  std::vector<std::string> types() const;  // sorted
  const std::vector<probe_kind>& kinds() const { return kinds_; }

private:
  std::vector<probe_kind> kinds_;
};

// The one list of built-in probe kinds (probes/register_probes.cpp).
void register_builtin_probes(probe_registry& registry);

}  // namespace vitals
