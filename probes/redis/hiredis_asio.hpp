#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct redisAsyncContext;

namespace vitals {

namespace asio = boost::asio;

// A reply copied out of hiredis' redisReply, so it outlives the callback.
struct redis_reply {
  enum class kind { string, array, integer, nil, status, error };
  kind type = kind::nil;
  std::string text;       // string, status and error replies
  long long integer = 0;  // integer replies
  std::vector<redis_reply> elements;

  bool is_error() const { return type == kind::error; }
};

// Why the connection is gone: hiredis' error class (REDIS_ERR_IO, _EOF,
// _PROTOCOL, ...), the errno of an I/O error when known, and hiredis' text.
struct redis_link_error {
  int code = 0;
  int errno_value = 0;
  std::string text;
};

// One outcome of a connect or a pipelined exchange: either every reply, or
// the error that ended the connection (then `replies` may be short).
struct redis_exchange {
  std::optional<redis_link_error> failure;
  std::vector<redis_reply> replies;
};

// One hiredis redisAsyncContext driven on an Asio executor, through an
// adapter that maps hiredis' addRead/delRead/addWrite/delWrite/cleanup hooks
// onto an asio::posix::stream_descriptor. hiredis owns the socket; the
// descriptor only borrows it and is released before hiredis closes it.
// The context is freed (redisAsyncFree) on destruction. Nothing here blocks:
// connects are non-blocking and take addresses, never names (hiredis would
// resolve a name with a blocking getaddrinfo).
//
// Not thread-safe: use from the executor's thread only. Never resumes the
// awaiting coroutine from inside a hiredis callback (wake-ups are posted),
// so destroying the connection after a co_await is always safe, including
// when the coroutine is cancelled mid-exchange.
//
// May be kept open across exchanges. Between them hiredis keeps reading, so
// a server that closes the connection is noticed on the loop and is_open()
// turns false. A cancelled connect or exchange closes the connection: the
// replies still due would otherwise be taken for those of the next one.
class hiredis_connection {
public:
  explicit hiredis_connection(asio::any_io_executor ex);
  ~hiredis_connection();
  hiredis_connection(const hiredis_connection&) = delete;
  hiredis_connection& operator=(const hiredis_connection&) = delete;

  // Non-blocking connect to an IP literal (no name lookup happens) or a unix
  // socket. Returns the failure, or nullopt once connected. Throws
  // system_error(operation_aborted) when the awaiting operation is cancelled.
  asio::awaitable<std::optional<redis_link_error>> async_connect(const asio::ip::address& address,
                                                                 std::uint16_t port);
  asio::awaitable<std::optional<redis_link_error>> async_connect_unix(const std::string& path);

  // Sends `commands` in one pipeline (argv form, binary safe) and waits for
  // every reply. Throws system_error(operation_aborted) on cancellation,
  // after closing the connection.
  asio::awaitable<redis_exchange> async_exec(const std::vector<std::vector<std::string>>& commands);

  // Connected, and not closed by either side since.
  bool is_open() const;
  // Frees the context (hiredis closes its socket). Idempotent.
  void close();

  struct link;  // the adapter state, shared with pending Asio handlers

private:
  asio::awaitable<std::optional<redis_link_error>> finish_connect(redisAsyncContext* context);

  asio::any_io_executor executor_;
  std::shared_ptr<link> link_;
};

}  // namespace vitals
