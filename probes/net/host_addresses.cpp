#include "probes/net/host_addresses.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace vitals {

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

bool is_host_address(const asio::ip::address& a, const std::vector<asio::ip::address>& own) {
  const auto u = unmapped(a);
  if (u.is_loopback() || u.is_unspecified()) return true;
  return std::any_of(own.begin(), own.end(), [&](const asio::ip::address& o) { return same_address(o, u); });
}

}  // namespace vitals
