#pragma once

// Connecting for the HTTP and WebSocket probes: name resolution, TCP
// connect and the TLS handshake on Beast streams, each phase timed, each
// failure named. Beast-heavy: include it only from those two probes.

#include "probes/net/resolve.hpp"
#include "probes/net/tls_certificate.hpp"
#include "probes/net/web_target.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace vitals {

namespace beast = boost::beast;

// Why a request never got an answer: reason and one line for the user.
struct web_failure {
  std::string reason;  // resolve | refused | unreachable | timeout | tls | protocol | error
  std::string error;
};

struct phase_times {
  double connect_seconds = 0;
  double tls_seconds = 0;
  std::string address;  // the peer that answered, e.g. "127.0.0.1:8080"
};

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// Names an I/O error of the phase `what` ("connect to 127.0.0.1:8080",
// "read the response"): timeouts (the stream's deadline) become
// reason=timeout, refused connections reason=refused, TLS errors reason=tls.
web_failure classify_io_error(const boost::system::error_code& ec, const std::string& what);

// Resolves url.host (unless it is an IP literal) and connects `stream`,
// trying each address in turn, within the stream's expiry. nullopt on
// success.
asio::awaitable<std::optional<web_failure>> connect_stream(beast::tcp_stream& stream, const web_url& url,
                                                           phase_times& times);

// SNI, host name verification (tls.server_name or the URL's host) and the
// client handshake, within the stream's expiry. nullopt on success.
asio::awaitable<std::optional<web_failure>> handshake_tls(tls_stream& stream, const web_url& url,
                                                          const tls_settings& tls, phase_times& times);

// The certificate chain the TLS peer sent in the handshake, summarized;
// nullopt when it sent none.
std::optional<tls_chain> peer_chain(tls_stream& stream);

}  // namespace vitals
