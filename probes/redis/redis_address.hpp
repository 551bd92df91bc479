#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vitals {

// A parsed `address:` value: host:port, [v6]:port, a bare host, or unix:/path.
struct redis_address {
  std::string host;          // IP literal (no brackets) or a name; empty for unix
  std::uint16_t port = 6379;
  std::string unix_path;     // set for unix:/path
  std::string error;         // why the text is unusable; empty when valid
};
redis_address parse_redis_address(std::string_view text);

}  // namespace vitals
