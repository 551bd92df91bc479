#pragma once

#include "probes/core/probe.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <utility>

namespace vitals {

// One blocking call on the thread pool (a /proc walk, statvfs, SQLite),
// its result handed back to the loop. Shared by the run waiting for it and
// the pool job, so a run cancelled by the scheduler's deadline leaves at
// once while the call finishes unobserved; it is told to stop through
// `stop`, which a call that can give up early (sqlite3_interrupt) polls.
// Everything but `stop` is touched on the loop thread only.
template <class T>
class pool_call {
public:
  explicit pool_call(const asio::any_io_executor& loop) : done_(loop) {
    done_.expires_at(asio::steady_timer::time_point::max());
  }

  // Posts fn(stop) to the pool. What fn returns or throws reaches wait().
  template <class Fn>
  static std::shared_ptr<pool_call> start(const probe_context& ctx, Fn fn) {
    auto call = std::make_shared<pool_call>(ctx.loop());
    asio::post(ctx.pool, [call, fn = std::move(fn), loop = ctx.loop()]() mutable {
      T value{};
      std::exception_ptr error;
      try {
        value = fn(static_cast<const std::atomic<bool>&>(call->stop_));
      } catch (...) {
        error = std::current_exception();  // an escaped exception would end the pool thread
      }
      asio::post(loop, [call, value = std::move(value), error]() mutable {
        call->value_ = std::move(value);
        call->error_ = error;
        call->finished_ = true;
        call->done_.cancel();
      });
    });
    return call;
  }

  bool finished() const { return finished_; }

  // Waits for the result. When the wait is cancelled first, asks the call
  // to stop and throws operation_aborted naming `what`; rethrows what the
  // call threw. The caller keeps a shared_ptr to this call while waiting.
  asio::awaitable<void> wait(const char* what) {
    if (!finished_) co_await done_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!finished_) {
      stop_ = true;
      throw boost::system::system_error(asio::error::operation_aborted, what);
    }
    if (error_) std::rethrow_exception(error_);
  }

  // The call's result; valid once wait() returned normally.
  T& value() { return value_; }

private:
  asio::steady_timer done_;
  bool finished_ = false;
  T value_{};
  std::exception_ptr error_;
  std::atomic<bool> stop_{false};
};

}  // namespace vitals
