#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <optional>

namespace vitals {

// A connect to see whether a TCP port accepts; the socket is closed again
// once it is known.
//
// A local port has answered (SYN-ACK or RST) before connect() returns, as
// the loopback handshake runs inside the call, so a poll that does not wait
// settles most runs with five system calls and no trip through the event
// loop: start() returns with `answer` set. Only a connect still in flight
// (a remote host) is registered with the loop by finish().
class port_connect {
public:
  explicit port_connect(const boost::asio::ip::tcp::endpoint& endpoint);
  ~port_connect();
  port_connect(const port_connect&) = delete;
  port_connect& operator=(const port_connect&) = delete;

  // The error the connect ended with, none when the port accepted; empty
  // while it is still in flight.
  const std::optional<boost::system::error_code>& answer() const { return answer_; }

  // Waits on the loop for a connect still in flight. Cancelling the caller
  // cancels the wait (operation_aborted).
  boost::asio::awaitable<boost::system::error_code> finish();

private:
  boost::asio::ip::tcp protocol_;
  int fd_ = -1;
  std::optional<boost::system::error_code> answer_;
};

}  // namespace vitals
