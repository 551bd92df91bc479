#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <future>

namespace vitals::test {

// Holds a one-thread pool's only thread until released, so a test can line
// callers up behind blocking work that has not finished. Releases on
// destruction so the pool can always be joined.
class pool_gate {
public:
  explicit pool_gate(boost::asio::thread_pool& pool) {
    boost::asio::post(pool, [f = open_.get_future().share()] { f.wait(); });
  }
  ~pool_gate() { release(); }
  pool_gate(const pool_gate&) = delete;
  pool_gate& operator=(const pool_gate&) = delete;

  void release() {
    if (!released_) open_.set_value();
    released_ = true;
  }

private:
  std::promise<void> open_;
  bool released_ = false;
};

}  // namespace vitals::test
