#pragma once

// The few questions `vitalsd init` asks a listening service, each one
// request on its own short-lived connection with a deadline and a size
// limit: does Redis want AUTH, does a path answer HTTP, does a path
// upgrade to WebSocket. Blocking: for the CLI only.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace vitals {

struct poke_target {
  std::string host;  // "127.0.0.1" or "::1"
  std::uint16_t port = 0;
  std::chrono::milliseconds timeout{1000};  // for the whole exchange
};

// True when the server answers PING with NOAUTH: it requires a password.
// nullopt when it gave no Redis answer at all.
std::optional<bool> redis_requires_auth(const poke_target& t);

struct http_answer {
  int status = 0;
  std::string content_type;
  std::string body;  // at most 64 KiB, de-chunked
};
// GET `path`; nullopt when the answer is not HTTP (or none came in time).
std::optional<http_answer> http_get(const poke_target& t, const std::string& path);

// True when an upgrade request on `path` is answered 101 Switching Protocols.
bool websocket_upgrades(const poke_target& t, const std::string& path);

// "127.0.0.1:6379", "[::1]:6379".
std::string host_port(const poke_target& t);

}  // namespace vitals
