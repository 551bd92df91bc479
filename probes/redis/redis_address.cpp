#include "probes/redis/redis_address.hpp"

#include "probes/net/host_addresses.hpp"

#include <charconv>

namespace vitals {

redis_address parse_redis_address(std::string_view text) {
  redis_address out;
  if (text.substr(0, 5) == "unix:") {
    out.host.clear();
    out.unix_path = std::string(text.substr(5));
    if (out.unix_path.empty() || out.unix_path.front() != '/')
      out.error = "needs an absolute socket path after unix:, like unix:/run/redis/redis.sock";
    return out;
  }
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      out.error = "has an unclosed [ (IPv6 like [::1]:6379)";
      return out;
    }
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        out.error = "expected :port after ]";
        return out;
      }
      port = rest.substr(1);
      if (port.empty()) {
        out.error = "has an empty port after :";
        return out;
      }
    }
    if (auto ip = parse_ip(host); !ip || !ip->is_v6()) {
      out.error = "is not a valid IPv6 address in brackets";
      return out;
    }
  } else if (std::count(text.begin(), text.end(), ':') >= 2) {
    // A bare IPv6 literal; with a port it needs brackets.
    if (auto ip = parse_ip(text); !ip) {
      out.error = "is not a valid address (IPv6 with a port needs brackets: [::1]:6379)";
      return out;
    }
  } else if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) {
      out.error = "has an empty port after :";
      return out;
    }
  }
  if (host.empty()) {
    out.error = "has no host; expected host:port like 127.0.0.1:6379 or unix:/path";
    return out;
  }
  if (!parse_ip(host) && !is_host_name(host)) {
    out.error = "has an invalid host name";
    return out;
  }
  out.host = std::string(host);
  if (!port.empty()) {
    long long number = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec == std::errc::result_out_of_range || (ec == std::errc{} && end == port.data() + port.size() &&
                                                 (number < 1 || number > 65535))) {
      // The whole address is already quoted (or <redacted>) before this: repeating
      // part of it would echo a secret (found by fuzz_config).
      out.error = "has a port out of range (1-65535)";
      return out;
    }
    if (ec != std::errc{} || end != port.data() + port.size()) {
      out.error = "has an invalid port (expected a number, 1-65535)";
      return out;
    }
    out.port = static_cast<std::uint16_t>(number);
  }
  return out;
}

}  // namespace vitals
