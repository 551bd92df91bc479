#include "probes/redis/hiredis_asio.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <cerrno>

// How hiredis 0.14 ends a context, which everything below relies on:
// * on an I/O, EOF or protocol error inside redisAsyncHandleRead/Write it
//   frees the context itself: pending reply callbacks run with NULL, then
//   ev.cleanup, onDisconnect, and close(fd);
// * a failed connect calls onConnect(REDIS_ERR) first (the error is then
//   only in context->c), then the same;
// * redisAsyncFree (ours, on destruction or cancellation) does the same.
// So the cleanup hook is the one signal that the context is gone.

namespace vitals {

using boost::system::error_code;
using wait_type = asio::posix::stream_descriptor::wait_type;

// The adapter state. hiredis holds a raw pointer to it (ev.data, ac->data,
// every command's privdata) for as long as the context lives; the owning
// hiredis_connection frees the context before dropping its reference, and
// every pending Asio handler holds a reference, so a hook or handler never
// sees a dead link.
struct hiredis_connection::link : std::enable_shared_from_this<link> {
  explicit link(const asio::any_io_executor& ex) : descriptor(ex), wake(ex) {
    wake.expires_at(asio::steady_timer::time_point::max());
  }

  // hiredis owns the context; null once hiredis has freed it (or is about
  // to: the cleanup hook runs right before it frees).
  redisAsyncContext* context = nullptr;
  // Borrows context->c.fd: hiredis owns the fd and closes it, so this is
  // released (never closed) in the cleanup hook.
  asio::posix::stream_descriptor descriptor;
  // Cancelled to wake the awaiting coroutine. Cancelling posts the
  // resumption, so the coroutine never runs inside a hiredis callback.
  asio::steady_timer wake;

  bool want_read = false;   // hiredis asked for read events (addRead)
  bool want_write = false;  // hiredis asked for write events (addWrite)
  bool read_waiting = false;   // an async_wait(wait_read) is pending
  bool write_waiting = false;  // an async_wait(wait_write) is pending

  bool connect_done = false;
  std::optional<redis_link_error> failure;  // first error that ended the connection

  std::size_t expected = 0;  // replies the current exchange waits for
  std::size_t received = 0;  // callbacks seen, NULL replies included
  std::vector<redis_reply> replies;

  void notify() { wake.cancel(); }

  void record_failure(int code, int errno_value, const char* text) {
    if (failure) return;
    failure = redis_link_error{code, errno_value, text && *text ? text : "connection lost"};
  }

  void arm(wait_type type) {
    const bool reading = type == wait_type::wait_read;
    bool& waiting = reading ? read_waiting : write_waiting;
    if (waiting || context == nullptr) return;
    waiting = true;
    descriptor.async_wait(type, [self = shared_from_this(), reading](const error_code& ec) {
      (reading ? self->read_waiting : self->write_waiting) = false;
      // Aborted: released in cleanup (context gone) or the loop shuts down.
      if (ec == asio::error::operation_aborted || self->context == nullptr) return;
      if (!(reading ? self->want_read : self->want_write)) return;
      // May run reply callbacks, and may end in the cleanup hook (context
      // freed, descriptor released). `self` keeps this link alive until we
      // return: destruction is deferred past the callback.
      if (reading)
        redisAsyncHandleRead(self->context);
      else
        redisAsyncHandleWrite(self->context);
      if (self->context != nullptr && (reading ? self->want_read : self->want_write))
        self->arm(reading ? wait_type::wait_read : wait_type::wait_write);
    });
  }

  // --- hiredis event hooks; each is idempotent ------------------------------

  static link& of(void* privdata) { return *static_cast<link*>(privdata); }

  static void add_read(void* privdata) {
    auto& l = of(privdata);
    l.want_read = true;
    l.arm(wait_type::wait_read);
  }
  static void del_read(void* privdata) { of(privdata).want_read = false; }
  static void add_write(void* privdata) {
    auto& l = of(privdata);
    l.want_write = true;
    l.arm(wait_type::wait_write);
  }
  static void del_write(void* privdata) { of(privdata).want_write = false; }

  // hiredis is about to free the context and close the fd (hiredis 0.14
  // calls this twice on an error disconnect). Release, never close.
  static void cleanup(void* privdata) {
    auto& l = of(privdata);
    if (l.context == nullptr) return;
    if (!l.failure && l.context->err != 0) l.record_failure(l.context->err, 0, l.context->errstr);
    l.context = nullptr;
    l.want_read = l.want_write = false;
    if (l.descriptor.is_open()) {
      // release() aborts the pending waits; their handlers only find the
      // context gone.
      (void)l.descriptor.release();
    }
    l.notify();
  }

  // --- hiredis callbacks ----------------------------------------------------

  static void on_connect(const redisAsyncContext* context, int status) {
    auto& l = of(context->data);
    const int saved_errno = errno;
    l.connect_done = true;
    // On failure hiredis has not copied the error to context->err yet: it
    // is only in the embedded redisContext.
    if (status != REDIS_OK) l.record_failure(context->c.err, saved_errno, context->c.errstr);
    l.notify();
  }

  static void on_disconnect(const redisAsyncContext* context, int status) {
    auto& l = of(context->data);
    if (status != REDIS_OK) l.record_failure(context->err, 0, context->errstr);
    l.notify();
  }

  // Regular replies come in command order. A NULL reply means the context is
  // being freed (error or redisAsyncFree): its commands will not be answered.
  static void on_reply(redisAsyncContext* context, void* reply, void* privdata) {
    auto& l = of(privdata);
    ++l.received;
    if (reply == nullptr)
      l.record_failure(context->err != 0 ? context->err : REDIS_ERR_EOF, 0,
                       context->err != 0 ? context->errstr : "connection closed");
    else
      l.replies.push_back(copy(*static_cast<const redisReply*>(reply)));
    l.notify();
  }

  static redis_reply copy(const redisReply& r) {
    redis_reply out;
    switch (r.type) {
      case REDIS_REPLY_STRING: out.type = redis_reply::kind::string; break;
      case REDIS_REPLY_ARRAY: out.type = redis_reply::kind::array; break;
      case REDIS_REPLY_INTEGER: out.type = redis_reply::kind::integer; break;
      case REDIS_REPLY_STATUS: out.type = redis_reply::kind::status; break;
      case REDIS_REPLY_ERROR: out.type = redis_reply::kind::error; break;
      default: out.type = redis_reply::kind::nil; break;
    }
    if (r.str != nullptr) out.text.assign(r.str, r.len);
    out.integer = r.integer;
    for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(copy(*r.element[i]));
    return out;
  }
};

namespace {

using link = hiredis_connection::link;

// Suspends until `done()` holds. Wake-ups come from link::notify(); a
// cancellation of the awaiting operation ends the wait with
// system_error(operation_aborted).
template <class Predicate>
asio::awaitable<void> wait_until(link& l, Predicate done) {
  while (!done()) {
    l.wake.expires_at(asio::steady_timer::time_point::max());
    co_await l.wake.async_wait(asio::as_tuple(asio::use_awaitable));
    if (done()) break;
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
      throw boost::system::system_error(asio::error::operation_aborted, "redis");
  }
}

}  // namespace

hiredis_connection::hiredis_connection(asio::any_io_executor ex)
    : executor_(std::move(ex)), link_(std::make_shared<link>(executor_)) {}

hiredis_connection::~hiredis_connection() { close(); }

bool hiredis_connection::is_open() const { return link_->context != nullptr && link_->connect_done; }

void hiredis_connection::close() {
  if (link_->context == nullptr) return;
  // Runs pending callbacks with NULL replies and the cleanup hook (which
  // releases the descriptor), then hiredis closes its fd.
  redisAsyncFree(link_->context);
  link_->context = nullptr;
}

asio::awaitable<std::optional<redis_link_error>> hiredis_connection::async_connect(const asio::ip::address& address,
                                                                                   std::uint16_t port) {
  // An IP literal: hiredis' getaddrinfo parses it without a lookup.
  errno = 0;
  redisAsyncContext* context = redisAsyncConnect(address.to_string().c_str(), port);
  const int saved_errno = errno;
  if (context == nullptr) co_return redis_link_error{REDIS_ERR_OOM, 0, "out of memory"};
  if (context->err != 0) {
    redis_link_error e{context->err, saved_errno, context->errstr};
    redisAsyncFree(context);  // no hooks attached yet: only frees and closes
    co_return e;
  }
  co_return co_await finish_connect(context);
}

asio::awaitable<std::optional<redis_link_error>> hiredis_connection::async_connect_unix(const std::string& path) {
  errno = 0;
  redisAsyncContext* context = redisAsyncConnectUnix(path.c_str());
  const int saved_errno = errno;
  if (context == nullptr) co_return redis_link_error{REDIS_ERR_OOM, 0, "out of memory"};
  if (context->err != 0) {
    redis_link_error e{context->err, saved_errno, context->errstr};
    redisAsyncFree(context);
    co_return e;
  }
  co_return co_await finish_connect(context);
}

asio::awaitable<std::optional<redis_link_error>> hiredis_connection::finish_connect(redisAsyncContext* context) {
  close();
  // A fresh link per context: handlers of a previous attempt, aborted but
  // not yet run, keep the old one and never touch this one.
  link_ = std::make_shared<link>(executor_);
  auto& l = *link_;

  error_code ec;
  l.descriptor.assign(context->c.fd, ec);
  if (ec) {
    redisAsyncFree(context);
    co_return redis_link_error{REDIS_ERR_IO, ec.value(), "cannot watch the socket: " + ec.message()};
  }
  l.context = context;
  context->data = &l;
  context->ev.data = &l;
  context->ev.addRead = &link::add_read;
  context->ev.delRead = &link::del_read;
  context->ev.addWrite = &link::add_write;
  context->ev.delWrite = &link::del_write;
  context->ev.cleanup = &link::cleanup;
  redisAsyncSetDisconnectCallback(context, &link::on_disconnect);
  // Also asks for a write event: the first one tells that connect(2) ended.
  redisAsyncSetConnectCallback(context, &link::on_connect);

  try {
    co_await wait_until(l, [&] { return l.connect_done || l.context == nullptr; });
  } catch (const boost::system::system_error&) {
    close();  // a half-open socket is of no use to the next attempt
    throw;
  }
  if (l.failure) {
    close();
    co_return l.failure;
  }
  if (l.context == nullptr) co_return redis_link_error{REDIS_ERR_EOF, 0, "connection closed"};
  co_return std::nullopt;
}

asio::awaitable<redis_exchange> hiredis_connection::async_exec(const std::vector<std::vector<std::string>>& commands) {
  auto& l = *link_;
  redis_exchange out;
  if (l.context == nullptr) {
    out.failure = l.failure.value_or(redis_link_error{REDIS_ERR_EOF, 0, "not connected"});
    co_return out;
  }
  l.replies.clear();
  l.received = 0;
  l.expected = 0;
  for (const auto& argv : commands) {
    std::vector<const char*> args;
    std::vector<std::size_t> lengths;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lengths.push_back(a.size());
    }
    if (redisAsyncCommandArgv(l.context, &link::on_reply, &l, static_cast<int>(args.size()), args.data(),
                              lengths.data()) != REDIS_OK) {
      l.record_failure(l.context->err != 0 ? l.context->err : REDIS_ERR_OTHER, 0,
                       l.context->err != 0 ? l.context->errstr : "cannot queue the command");
      break;
    }
    ++l.expected;
  }
  try {
    co_await wait_until(l, [&] { return l.received >= l.expected || l.context == nullptr; });
  } catch (const boost::system::system_error&) {
    close();  // the replies still due must not answer the next exchange
    throw;
  }
  out.replies = std::move(l.replies);
  l.replies.clear();
  if (out.replies.size() < commands.size())
    out.failure = l.failure.value_or(redis_link_error{REDIS_ERR_EOF, 0, "connection closed"});
  co_return out;
}

}  // namespace vitals
