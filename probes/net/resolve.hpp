#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

#include <string>
#include <vector>

namespace vitals {

namespace asio = boost::asio;

struct resolved_host {
  boost::system::error_code error;
  std::vector<asio::ip::address> addresses;  // each once, in the resolver's order
};

// Resolves `host` with Asio's resolver: getaddrinfo on Asio's own resolver
// thread, never on the loop. A running getaddrinfo cannot be interrupted,
// so when the caller is cancelled it stops waiting at once (throwing
// operation_aborted) and the lookup finishes in the background.
asio::awaitable<resolved_host> resolve_host(std::string host);

}  // namespace vitals
