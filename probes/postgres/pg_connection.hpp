#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vitals {

namespace asio = boost::asio;

struct pg_result_deleter {
  void operator()(PGresult* r) const { ::PQclear(r); }
};
// One result of a query; PQclear'ed when dropped.
using pg_result = std::unique_ptr<PGresult, pg_result_deleter>;

// libpq connection parameters, keyword -> value, in the order given.
using pg_params = std::vector<std::pair<std::string, std::string>>;

// One libpq connection driven without ever blocking the event loop:
// PQconnectStartParams + PQconnectPoll for the connect, PQsendQuery /
// PQflush / PQconsumeInput / PQisBusy / PQgetResult for queries, with the
// socket's readiness awaited through a stream_descriptor.
//
// libpq owns the socket: the descriptor only borrows the fd and is always
// release()d before PQfinish, so exactly one party ever closes it.
//
// Cancellation (per-operation, as the scheduler's deadline delivers it):
// the pending wait is aborted, the connection is closed — its protocol
// state is unknown after an interrupted exchange — and the operation throws
// system_error(operation_aborted). The server side of an abandoned query is
// bounded by statement_timeout; PQcancel is not used because it blocks.
//
// Used from the loop thread only. Must be destroyed before its io_context.
class pg_connection {
public:
  explicit pg_connection(asio::any_io_executor ex);
  ~pg_connection();
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;

  // Connects with `params` (expand_dbname off). The caller passes `hostaddr`
  // for TCP targets: libpq's own host name lookup would block. Returns an
  // empty string on success, else libpq's error message (may span lines).
  asio::awaitable<std::string> async_connect(const pg_params& params);

  struct query_outcome {
    std::vector<pg_result> results;  // one per statement, in order
    std::string error;               // set when the connection failed mid-query
  };
  // Sends `sql` (simple query protocol: several statements, one round trip)
  // and collects every result. A statement that fails yields a result with
  // PGRES_FATAL_ERROR; the connection stays usable then. A broken connection
  // sets `error` and closes it.
  asio::awaitable<query_outcome> async_query(const std::string& sql);
  // Prepares `sql` (one statement, no parameters) as the named statement
  // `name` of this session; a statement error comes back as a result with
  // PGRES_FATAL_ERROR, as from async_query.
  asio::awaitable<query_outcome> async_prepare(const std::string& name, const std::string& sql);
  // Runs the prepared statement `name` (extended protocol, text results):
  // the server neither parses nor plans it again.
  asio::awaitable<query_outcome> async_query_prepared(const std::string& name);

  bool is_open() const { return conn_ != nullptr; }
  // The server's process id for this session (0 when closed).
  int backend_pid() const { return conn_ ? ::PQbackendPID(conn_) : 0; }
  // The server's version as a number, 150004 for 15.4 (0 when closed).
  int server_version() const { return conn_ ? ::PQserverVersion(conn_) : 0; }
  // Releases the borrowed fd and PQfinish'es (libpq closes the socket).
  void close();

private:
  enum class direction { read, write };
  // Points the descriptor at libpq's current socket. During connect libpq
  // may close a socket and open another (next address, SSL retry), and the
  // new one can reuse the old number, so connect rebinds after every poll.
  void rebind();
  // Waits until the socket is ready. Throws after close() on cancellation.
  asio::awaitable<void> wait(direction d);
  // Sends with `send` (a PQsend* call; 0 on failure), flushes, and collects
  // every result.
  asio::awaitable<query_outcome> exchange(const std::function<int()>& send);

  PGconn* conn_ = nullptr;                 // owned; PQfinish in close()
  asio::posix::stream_descriptor socket_;  // borrows PQsocket(conn_), never closes it
};

}  // namespace vitals
