#include "probes/postgres/pg_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace vitals {

namespace {

// Server notices (WARNING, NOTICE) would go to stderr by default; a probe's
// output is its result, so they are dropped.
void ignore_notice(void*, const PGresult*) {}

}  // namespace

pg_connection::pg_connection(asio::any_io_executor ex) : socket_(std::move(ex)) {}

pg_connection::~pg_connection() { close(); }

void pg_connection::close() {
  // Release first: libpq closes the fd in PQfinish, and the descriptor must
  // not be registered with the reactor (or close it) when that happens.
  if (socket_.is_open()) socket_.release();
  if (conn_ != nullptr) {
    ::PQfinish(conn_);
    conn_ = nullptr;
  }
}

void pg_connection::rebind() {
  if (socket_.is_open()) socket_.release();
  const int fd = conn_ ? ::PQsocket(conn_) : -1;
  if (fd < 0) return;
  boost::system::error_code ec;
  socket_.assign(fd, ec);  // on failure the wait reports bad_descriptor
}

asio::awaitable<void> pg_connection::wait(direction d) {
  using base = asio::posix::descriptor_base;
  auto [ec] = co_await socket_.async_wait(d == direction::read ? base::wait_read : base::wait_write,
                                          asio::as_tuple(asio::use_awaitable));
  if (ec == asio::error::operation_aborted) {
    // Interrupted mid-exchange: what the server has seen is unknown, so the
    // connection cannot be reused. Closing it is also what stops the work.
    close();
    throw boost::system::system_error(ec, "postgres");
  }
  // Any other error (a socket libpq already closed): libpq reports it on
  // its next call, with its own message.
}

asio::awaitable<std::string> pg_connection::async_connect(const pg_params& params) {
  close();
  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const auto& [k, v] : params) {
    keywords.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);

  // Non-blocking as long as no host name needs a lookup (the caller passes
  // hostaddr): it only creates the socket and starts connect().
  conn_ = ::PQconnectStartParams(keywords.data(), values.data(), 0);
  if (conn_ == nullptr) co_return "out of memory allocating a libpq connection";
  ::PQsetNoticeReceiver(conn_, &ignore_notice, nullptr);
  if (::PQstatus(conn_) == CONNECTION_BAD) {
    std::string error = ::PQerrorMessage(conn_);
    close();
    co_return error;
  }

  // libpq: act as if PQconnectPoll had just asked for a writable socket.
  PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
  for (;;) {
    rebind();
    if (!socket_.is_open()) break;  // libpq lost its socket: PQconnectPoll says why
    co_await wait(poll == PGRES_POLLING_READING ? direction::read : direction::write);
    poll = ::PQconnectPoll(conn_);
    if (poll == PGRES_POLLING_OK || poll == PGRES_POLLING_FAILED) break;
  }
  if (poll != PGRES_POLLING_OK || ::PQstatus(conn_) != CONNECTION_OK) {
    std::string error = ::PQerrorMessage(conn_);
    if (error.empty()) error = "connection failed";
    close();
    co_return error;
  }
  rebind();  // the final socket; it stays the same for the connection's life
  // Makes PQsendQuery/PQflush (and PQfinish's Terminate message) return
  // instead of waiting for a writable socket.
  if (::PQsetnonblocking(conn_, 1) != 0) {
    std::string error = ::PQerrorMessage(conn_);
    close();
    co_return error.empty() ? "cannot make the connection non-blocking" : error;
  }
  co_return std::string();
}

asio::awaitable<pg_connection::query_outcome> pg_connection::async_query(const std::string& sql) {
  // Named: GCC 12 mishandles temporaries in a co_await operand.
  const std::function<int()> send = [&] { return ::PQsendQuery(conn_, sql.c_str()); };
  co_return co_await exchange(send);
}

asio::awaitable<pg_connection::query_outcome> pg_connection::async_prepare(const std::string& name,
                                                                           const std::string& sql) {
  const std::function<int()> send = [&] { return ::PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr); };
  co_return co_await exchange(send);
}

asio::awaitable<pg_connection::query_outcome> pg_connection::async_query_prepared(const std::string& name) {
  const std::function<int()> send = [&] {
    return ::PQsendQueryPrepared(conn_, name.c_str(), 0, nullptr, nullptr, nullptr, 0);
  };
  co_return co_await exchange(send);
}

asio::awaitable<pg_connection::query_outcome> pg_connection::exchange(const std::function<int()>& send) {
  query_outcome out;
  auto broken = [&](std::string fallback) {
    out.error = conn_ ? ::PQerrorMessage(conn_) : "";
    if (out.error.empty()) out.error = std::move(fallback);
    close();
  };
  if (conn_ == nullptr) {
    out.error = "not connected";
    co_return out;
  }
  if (send() == 0) {
    broken("cannot send the query");
    co_return out;
  }
  // Queries are small, so this normally finishes at once; otherwise wait
  // until the kernel takes more.
  for (;;) {
    const int pending = ::PQflush(conn_);
    if (pending == 0) break;
    if (pending < 0) {
      broken("cannot send the query");
      co_return out;
    }
    co_await wait(direction::write);
  }
  for (;;) {
    if (::PQconsumeInput(conn_) == 0) {
      broken("connection lost");
      co_return out;
    }
    bool finished = false;
    while (!finished && ::PQisBusy(conn_) == 0) {
      PGresult* r = ::PQgetResult(conn_);
      if (r == nullptr)
        finished = true;
      else
        out.results.emplace_back(r);
    }
    if (finished) break;
    co_await wait(direction::read);
  }
  if (::PQstatus(conn_) == CONNECTION_BAD) {
    // e.g. "terminating connection due to administrator command", or a
    // protocol violation: the last result usually carries the server's text.
    std::string fallback = "connection lost";
    if (!out.results.empty()) {
      const char* message = ::PQresultErrorMessage(out.results.back().get());
      if (message != nullptr && *message != '\0') fallback = message;
    }
    broken(std::move(fallback));
  }
  co_return out;
}

}  // namespace vitals
