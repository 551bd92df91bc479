#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace vitals::test {

// Runs the loop until `done()` holds or `limit` passes; returns done().
// The limit is a safety net for a broken build, never the thing asserted.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace vitals::test
