#include "probes/net/resolve.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <memory>

namespace vitals {

namespace {

using tcp = asio::ip::tcp;

// Shared by the waiter and the resolver's handler, which keeps it alive
// until getaddrinfo returns, also after the waiter left.
struct resolve_state {
  explicit resolve_state(const asio::any_io_executor& ex) : resolver(ex), done(ex) {
    done.expires_at(asio::steady_timer::time_point::max());
  }
  tcp::resolver resolver;
  asio::steady_timer done;  // cancelled by the handler to wake the waiter
  bool finished = false;
  resolved_host result;
};

}  // namespace

asio::awaitable<resolved_host> resolve_host(std::string host) {
  auto ex = co_await asio::this_coro::executor;
  auto state = std::make_shared<resolve_state>(ex);
  state->resolver.async_resolve(
      host, "", [s = state](const boost::system::error_code& ec, tcp::resolver::results_type results) {
        s->finished = true;
        s->result.error = ec;
        auto& found = s->result.addresses;
        for (const auto& r : results)
          if (std::find(found.begin(), found.end(), r.endpoint().address()) == found.end())
            found.push_back(r.endpoint().address());
        s->done.cancel();
      });
  struct abandon_on_exit {
    std::shared_ptr<resolve_state> s;
    ~abandon_on_exit() {
      if (!s->finished) s->resolver.cancel();  // drops it if getaddrinfo has not started yet
    }
  } guard{state};
  if (!state->finished) co_await state->done.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!state->finished) throw boost::system::system_error(asio::error::operation_aborted, "resolve");
  co_return state->result;
}

}  // namespace vitals
