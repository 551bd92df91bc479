#include "probes/port/tcp_connect.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace vitals {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

error_code errno_code(int e) { return {e, boost::system::system_category()}; }

error_code pending_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno_code(errno);
  return err == 0 ? error_code{} : errno_code(err);
}

}  // namespace

port_connect::port_connect(const asio::ip::tcp::endpoint& endpoint) : protocol_(endpoint.protocol()) {
  fd_ = ::socket(protocol_.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd_ < 0) {
    answer_ = errno_code(errno);
  } else if (::connect(fd_, endpoint.data(), static_cast<socklen_t>(endpoint.size())) == 0) {
    answer_ = error_code{};
  } else if (errno != EINPROGRESS && errno != EINTR) {  // EINTR: it goes on in the background
    answer_ = errno_code(errno);
  } else if (pollfd ready{fd_, POLLOUT, 0}; ::poll(&ready, 1, 0) > 0) {
    answer_ = pending_error(fd_);
  }
}

port_connect::~port_connect() {
  if (fd_ >= 0) ::close(fd_);
}

asio::awaitable<error_code> port_connect::finish() {
  if (answer_) co_return *answer_;
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  error_code ec;
  socket.assign(protocol_, fd_, ec);
  if (ec) co_return ec;
  fd_ = -1;  // the socket closes it from here on
  auto [wait_ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_write, asio::as_tuple(asio::use_awaitable));
  if (wait_ec) co_return wait_ec;
  co_return pending_error(socket.native_handle());
}

}  // namespace vitals
