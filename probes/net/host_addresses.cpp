#include "probes/net/host_addresses.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <charconv>
#include <cstring>

namespace vitals {

std::optional<asio::ip::address> parse_ip(std::string_view text) {
  boost::system::error_code ec;
  const auto a = asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return a;
}

std::string strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::string(host);
}

bool is_host_name(std::string_view text) {
  return !text.empty() && text.size() <= 253 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_';
  });
}

std::optional<host_port> parse_host_port(std::string_view text, std::string& problem) {
  std::string_view host, port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close != std::string_view::npos) {
      host = text.substr(1, close - 1);
      port = text.substr(close + 2);
    }
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      problem = "IPv6 addresses need brackets, like \"[::1]:9273\"";
      return std::nullopt;
    }
  }
  if (host.empty() || port.empty() || host.find_first_of(" \t") != std::string_view::npos) {
    problem = "expected host:port like \"127.0.0.1:9273\" or \"[::1]:9273\"";
    return std::nullopt;
  }
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (ec != std::errc{} || end != port.data() + port.size() || number > 65535) {
    problem = "port must be a number from 0 to 65535 (0: any free port)";
    return std::nullopt;
  }
  return host_port{std::string(host), static_cast<std::uint16_t>(number)};
}

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

bool same_address(const asio::ip::address& a, const asio::ip::address& b) {
  const auto x = unmapped(a);
  const auto y = unmapped(b);
  if (x.is_v4() != y.is_v4()) return false;
  return x.is_v4() ? x == y : x.to_v6().to_bytes() == y.to_v6().to_bytes();
}

std::vector<asio::ip::address> interface_addresses() {
  std::vector<asio::ip::address> found;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return found;  // then only loopback counts as local
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      sockaddr_in sin{};
      std::memcpy(&sin, i->ifa_addr, sizeof sin);
      asio::ip::address_v4::bytes_type bytes{};
      std::memcpy(bytes.data(), &sin.sin_addr, bytes.size());
      found.emplace_back(asio::ip::address_v4(bytes));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      sockaddr_in6 sin6{};
      std::memcpy(&sin6, i->ifa_addr, sizeof sin6);
      asio::ip::address_v6::bytes_type bytes{};
      std::memcpy(bytes.data(), &sin6.sin6_addr, bytes.size());
      found.emplace_back(asio::ip::address_v6(bytes));
    }
  }
  ::freeifaddrs(list);
  return found;
}

address_list shared_interface_addresses() {
  static std::mutex lock;
  static address_list last;
  static std::chrono::steady_clock::time_point listed_at;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard hold(lock);
  if (!last || now - listed_at > std::chrono::seconds(1)) {
    last = std::make_shared<const std::vector<asio::ip::address>>(interface_addresses());
    listed_at = now;
  }
  return last;
}

bool is_host_address(const asio::ip::address& a, const std::vector<asio::ip::address>& own) {
  const auto u = unmapped(a);
  if (u.is_loopback() || u.is_unspecified()) return true;
  return std::any_of(own.begin(), own.end(), [&](const asio::ip::address& o) { return same_address(o, u); });
}

}  // namespace vitals
