#pragma once

#include "probes/core/probe.hpp"

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

class node_reader;
struct probe_settings;

// Builds a probe from its YAML mapping. Reads its own keys from `reader`
// (every key it asks about counts as known), reports problems there, and
// returns null when the settings are unusable.
using probe_factory = std::unique_ptr<probe> (*)(const probe_settings&, node_reader&, const probe_context&);

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
