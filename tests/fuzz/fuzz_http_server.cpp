// The HTTP server's request path, over a real socket: a server on a
// loopback port, started once per process on its own loop thread with a
// trivial handler. Each input is the bytes a client sends on a fresh
// connection; the client then shuts its side down and reads until the
// server closes.
//
// Promises checked beyond "no crash": once the client has finished, the
// server answers and closes within a deadline (it never waits on a client
// that has gone); whatever it sends is an HTTP/1.x response.
//
// Only the server's public API is used (constructor, listen), so the
// target follows the server through changes.

#include "fuzz_input.hpp"

#include "daemon/server/http_server.hpp"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>

namespace {

// Far above what a loopback answer takes, far below libFuzzer's -timeout:
// a server still holding the connection by then has hung on this input.
constexpr int close_deadline_seconds = 5;

// Lives until the process exits: libFuzzer ends with exit(), and a server
// torn down under its running loop thread would be a crash of our own making.
struct loopback_server {
  vitals::asio::io_context io;
  std::unique_ptr<vitals::http_server> server;
  vitals::asio::ip::tcp::endpoint endpoint;
};

loopback_server& server() {
  static loopback_server* const s = [] {
    auto* started = new loopback_server;
    started->server = std::make_unique<vitals::http_server>(
        started->io,
        [](const vitals::http_request& r) {
          return vitals::http_response::text(200, r.method + " " + r.target + " " + std::to_string(r.body.size()));
        },
        vitals::http_limits{});
    started->endpoint = started->server->listen("127.0.0.1:0");
    std::thread([started] { started->io.run(); }).detach();
    return started;
  }();
  return *s;
}

int connect_to(const vitals::asio::ip::tcp::endpoint& endpoint) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) vitals::fuzz::broken("cannot make a socket");
  timeval deadline{close_deadline_seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof deadline);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &deadline, sizeof deadline);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(endpoint.port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    vitals::fuzz::broken("cannot connect to the server");
  return fd;
}

// Sends what it can: a server may close early (400, 413, 431) and then
// the rest of the input has nowhere to go, which is fine.
void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
}

// Everything the server sends until it closes; a reset ends it too.
std::string read_until_closed(int fd) {
  std::string out;
  char chunk[16384];
  while (true) {
    const auto got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got > 0) {
      out.append(chunk, static_cast<std::size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      vitals::fuzz::broken("the server kept the connection open after the client had finished");
    return out;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // dropped and refused connections are the point here, not news
  server();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = connect_to(server().endpoint);
  send_all(fd, vitals::fuzz::as_text(data, size));
  ::shutdown(fd, SHUT_WR);
  const std::string response = read_until_closed(fd);
  ::close(fd);
  // Beast answers in the request's version: 1.0 or 1.1.
  vitals::fuzz::require(response.empty() || response.starts_with("HTTP/1.1 ") || response.starts_with("HTTP/1.0 "),
                        "the server answered with something other than an HTTP/1.x response");
  return 0;
}
