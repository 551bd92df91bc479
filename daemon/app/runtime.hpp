#pragma once

#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

namespace vitals {

// The parts every command needs: the one event loop, the small pool for
// blocking work, and the probe kinds. Declared in that order so the pool
// (which posts back to the loop) is joined before the loop goes away.
struct runtime {
  runtime() { register_builtin_probes(registry); }
  ~runtime() {
    pool.stop();
    pool.join();
  }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  asio::io_context io{1};
  asio::thread_pool pool{2};
  probe_registry registry;
  probe_context ctx{io, pool};
};

}  // namespace vitals
