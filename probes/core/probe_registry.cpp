#include "probes/core/probe_registry.hpp"

#include <algorithm>

namespace vitals {

const probe_kind* probe_registry::find(std::string_view type) const {
  auto it = std::find_if(kinds_.begin(), kinds_.end(), [&](const probe_kind& k) { return k.type == type; });
  return it == kinds_.end() ? nullptr : &*it;
}

std::vector<std::string> probe_registry::types() const {
  std::vector<std::string> names;
  for (const auto& k : kinds_) names.emplace_back(k.type);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace vitals
