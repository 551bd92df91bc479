#include "daemon/cli/service_pokes.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string_view>

namespace vitals {

namespace {

using clock = std::chrono::steady_clock;
constexpr std::size_t max_answer = 64 * 1024;

class connection {
public:
  connection(const poke_target& t) : deadline_(clock::now() + t.timeout) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    const bool v6 = t.host.find(':') != std::string::npos;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(t.port);
      if (::inet_pton(AF_INET6, t.host.c_str(), &a->sin6_addr) != 1) return;
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      a->sin_family = AF_INET;
      a->sin_port = htons(t.port);
      if (::inet_pton(AF_INET, t.host.c_str(), &a->sin_addr) != 1) return;
      len = sizeof *a;
    }
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS) {
      close();
      return;
    }
    if (!wait(POLLOUT)) {
      close();
      return;
    }
    int error = 0;
    socklen_t error_len = sizeof error;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &error_len) != 0 || error != 0) close();
  }
  ~connection() { close(); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  bool send(std::string_view data) {
    while (fd_ >= 0 && !data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait(POLLOUT)) return false;
      } else {
        return false;
      }
    }
    return fd_ >= 0;
  }

  // Reads until `done(text)`, the peer closes, max_answer bytes or the deadline.
  std::string receive(const std::function<bool(const std::string&)>& done) {
    std::string text;
    char buffer[4096];
    while (fd_ >= 0 && text.size() < max_answer && !done(text)) {
      const auto n = ::recv(fd_, buffer, std::min(sizeof buffer, max_answer - text.size()), 0);
      if (n > 0) {
        text.append(buffer, static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait(POLLIN)) break;
      } else {
        break;
      }
    }
    return text;
  }

  bool open() const { return fd_ >= 0; }

private:
  bool wait(short events) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left));
      if (r > 0) return true;
      if (r == 0 || errno != EINTR) return false;
    }
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int fd_ = -1;
  clock::time_point deadline_;
};

std::string request_head(const poke_target& t, const std::string& method_path) {
  return method_path + " HTTP/1.1\r\nHost: " + host_port(t) + "\r\nUser-Agent: vitalsd-init\r\n";
}

bool has_head(const std::string& text) { return text.find("\r\n\r\n") != std::string::npos; }

int status_of(const std::string& text) {
  // "HTTP/1.1 200 OK"
  if (!text.starts_with("HTTP/1.") || text.size() < 12 || text[8] != ' ') return 0;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (text[i] < '0' || text[i] > '9') return 0;
    status = status * 10 + (text[i] - '0');
  }
  return status;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string header_value(const std::string& head, const std::string& name) {
  const std::string low = lower(head);
  const auto at = low.find("\r\n" + name + ":");
  if (at == std::string::npos) return {};
  const auto start = head.find_first_not_of(' ', at + name.size() + 3);
  const auto end = head.find("\r\n", start);
  return start == std::string::npos ? std::string() : head.substr(start, end - start);
}

// Chunked transfer coding: size lines in hex, each followed by that many bytes.
std::string dechunk(std::string_view body) {
  std::string out;
  while (!body.empty()) {
    const auto line_end = body.find("\r\n");
    if (line_end == std::string_view::npos) break;
    std::size_t size = 0;
    try {
      size = std::stoul(std::string(body.substr(0, line_end)), nullptr, 16);
    } catch (...) {
      break;
    }
    body.remove_prefix(line_end + 2);
    if (size == 0 || size > body.size()) break;
    out.append(body.substr(0, size));
    body.remove_prefix(std::min(body.size(), size + 2));
  }
  return out;
}

}  // namespace

std::string host_port(const poke_target& t) {
  const bool v6 = t.host.find(':') != std::string::npos;
  return (v6 ? "[" + t.host + "]" : t.host) + ":" + std::to_string(t.port);
}

std::optional<bool> redis_requires_auth(const poke_target& t) {
  connection c(t);
  if (!c.send("PING\r\n")) return std::nullopt;
  const auto answer = c.receive([](const std::string& s) { return s.find("\r\n") != std::string::npos; });
  if (answer.starts_with("+PONG")) return false;
  if (answer.starts_with("-NOAUTH") || answer.starts_with("-WRONGPASS")) return true;
  return std::nullopt;
}

std::optional<http_answer> http_get(const poke_target& t, const std::string& path) {
  connection c(t);
  if (!c.send(request_head(t, "GET " + path) + "Accept: application/json\r\nConnection: close\r\n\r\n"))
    return std::nullopt;
  const auto text = c.receive([](const std::string&) { return false; });  // until the server closes
  http_answer a;
  a.status = status_of(text);
  if (a.status == 0 || !has_head(text)) return std::nullopt;
  const auto head_end = text.find("\r\n\r\n");
  const std::string head = text.substr(0, head_end + 2);
  a.content_type = header_value(head, "content-type");
  a.body = text.substr(head_end + 4);
  if (lower(header_value(head, "transfer-encoding")).find("chunked") != std::string::npos) a.body = dechunk(a.body);
  return a;
}

bool websocket_upgrades(const poke_target& t, const std::string& path) {
  connection c(t);
  if (!c.send(request_head(t, "GET " + path) +
              "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dml0YWxzZC1pbml0LWtleQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n"))
    return false;
  return status_of(c.receive(has_head)) == 101;
}

}  // namespace vitals
