#pragma once

// Is a target on this host? Probes that can name a local server's process
// (port owners, Redis's memory limit) need to know.

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

namespace asio = boost::asio;

// An IP literal ("127.0.0.1", "::1"; no brackets), or nullopt.
std::optional<asio::ip::address> parse_ip(std::string_view text);

// "[::1]" -> "::1"; anything else as it is.
std::string strip_brackets(std::string_view host);

// Could `text` be a DNS host name (letters, digits, - . _; at most 253)?
bool is_host_name(std::string_view text);

// "host:port" or "[v6]:port", as written in listen addresses.
struct host_port {
  std::string host;  // without brackets; may be empty ("":9273 = every address)
  std::uint16_t port = 0;
};
// Nullopt when `text` is not of that shape; `problem` then says why, in
// words that follow the quoted text ("IPv6 addresses need brackets, ...").
std::optional<host_port> parse_host_port(std::string_view text, std::string& problem);

// ::ffff:127.0.0.1 -> 127.0.0.1, so one comparison covers both spellings.
asio::ip::address unmapped(const asio::ip::address& a);

// Equal addresses, ignoring an IPv6 scope id and v4-mapping.
bool same_address(const asio::ip::address& a, const asio::ip::address& b);

// The addresses of this host's interfaces (getifaddrs); empty when they
// cannot be listed, and then only loopback counts as local.
std::vector<asio::ip::address> interface_addresses();

// The same list, shared by everyone who asks within a second of the last
// listing: the probes of one config load (10,000 port probes) hold one
// copy, listed once. Thread-safe (probes are built on the loader thread).
using address_list = std::shared_ptr<const std::vector<asio::ip::address>>;
address_list shared_interface_addresses();

// Loopback, unspecified, or one of `own` (from interface_addresses()).
bool is_host_address(const asio::ip::address& a, const std::vector<asio::ip::address>& own);

}  // namespace vitals
