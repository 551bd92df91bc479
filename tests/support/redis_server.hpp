#pragma once

// A throwaway redis-server for integration tests: 127.0.0.1 on a free port,
// no persistence, its own temp dir; killed (SIGKILL) and reaped on
// destruction. Also a tiny synchronous hiredis client, for test set-up only
// (the probe itself never uses hiredis' blocking API).

#include <hiredis/hiredis.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vitals::test {

// A port nothing listens on right now: bound to 0, read back, closed.
inline std::uint16_t pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline bool accepts_on(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

inline int count_open_fds() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

class redis_server {
public:
  // `extra` are more redis-server arguments, e.g. {"--requirepass", "s3cret"}.
  explicit redis_server(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("vitals-redis-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
    // A free port can be taken by someone else before redis binds it: retry.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = pick_free_port();
      if (start()) return;
    }
    throw std::runtime_error("redis-server did not start (is it installed?)");
  }
  ~redis_server() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_; }
  std::string unix_socket() const { return (dir_ / "redis.sock").string(); }
  pid_t pid() const { return pid_; }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Starts again on the same port (after stop()).
  void restart() {
    stop();
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (start()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
  }

private:
  static int& counter() {
    static int n = 0;
    return n;
  }

  bool start() {
    std::vector<std::string> args{"redis-server",    "--port",       std::to_string(port_), "--bind",
                                  "127.0.0.1",       "--save",       "",                    "--appendonly",
                                  "no",              "--dir",        dir_.string(),         "--unixsocket",
                                  unix_socket(),     "--unixsocketperm", "700",             "--daemonize",
                                  "no",              "--loglevel",   "warning",             "--logfile",
                                  (dir_ / "redis.log").string()};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t child = ::fork();
    if (child < 0) throw std::runtime_error("fork failed");
    if (child == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    pid_ = child;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken, most likely
        pid_ = -1;
        return false;
      }
      if (accepts_on(port_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    return false;
  }

  std::vector<std::string> extra_;
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// A blocking hiredis client for test set-up (CONFIG SET, filling keys).
class redis_sync_client {
public:
  explicit redis_sync_client(std::uint16_t port, const std::string& password = {}) {
    context_ = ::redisConnect("127.0.0.1", port);
    if (context_ == nullptr || context_->err) throw std::runtime_error("redisConnect failed");
    if (!password.empty()) command({"AUTH", password});
  }
  ~redis_sync_client() {
    if (context_) ::redisFree(context_);
  }
  redis_sync_client(const redis_sync_client&) = delete;
  redis_sync_client& operator=(const redis_sync_client&) = delete;

  // Runs one command; returns the reply as text (errors as their message,
  // integers in decimal). Throws when the connection fails.
  std::string command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        ::redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (reply == nullptr) throw std::runtime_error("redis command failed: connection error");
    std::string text;
    if (reply->type == REDIS_REPLY_INTEGER)
      text = std::to_string(reply->integer);
    else if (reply->str != nullptr)
      text.assign(reply->str, reply->len);
    ::freeReplyObject(reply);
    return text;
  }

  // A field of INFO, e.g. info_field("used_memory").
  std::string info_field(const std::string& key) {
    const auto info = command({"INFO"});
    const auto at = info.find("\n" + key + ":");
    if (at == std::string::npos) return {};
    const auto start = at + key.size() + 2;
    return info.substr(start, info.find('\r', start) - start);
  }

private:
  redisContext* context_ = nullptr;
};

}  // namespace vitals::test
