#include "probes/redis/memory_limit_cache.hpp"

#include <utility>

namespace vitals {

const memory_limit* memory_limit_cache::find(const server& s, clock::time_point now) const {
  if (!entry_ || entry_->read_for != s) return nullptr;
  // A clock that went backwards (never, for steady_clock) would keep a limit
  // forever; treat it as stale.
  if (now < entry_->read_at || now - entry_->read_at >= max_age) return nullptr;
  return &entry_->limit;
}

void memory_limit_cache::store(server s, memory_limit limit, clock::time_point now) {
  entry_ = entry{std::move(s), std::move(limit), now};
}

}  // namespace vitals
