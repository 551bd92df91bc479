#pragma once

// Is a target on this host? Probes that can name a local server's process
// (port owners, Redis's memory limit) need to know.

#include <boost/asio/ip/address.hpp>

#include <vector>

namespace vitals {

namespace asio = boost::asio;

// ::ffff:127.0.0.1 -> 127.0.0.1, so one comparison covers both spellings.
asio::ip::address unmapped(const asio::ip::address& a);

// Equal addresses, ignoring an IPv6 scope id and v4-mapping.
bool same_address(const asio::ip::address& a, const asio::ip::address& b);

// The addresses of this host's interfaces (getifaddrs); empty when they
// cannot be listed, and then only loopback counts as local.
std::vector<asio::ip::address> interface_addresses();

// Loopback, unspecified, or one of `own` (from interface_addresses()).
bool is_host_address(const asio::ip::address& a, const std::vector<asio::ip::address>& own);

}  // namespace vitals
