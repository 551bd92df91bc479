#include "probes/net/web_stream.hpp"

#include "probes/net/host_addresses.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <openssl/x509.h>

#include <chrono>

namespace vitals {

namespace {

using clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

std::string endpoint_text(const tcp::endpoint& e) {
  const auto a = e.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(e.port());
}

}  // namespace

web_failure classify_io_error(const boost::system::error_code& ec, const std::string& what) {
  if (ec == beast::error::timeout) return {"timeout", what + ": timed out"};
  if (ec == asio::error::connection_refused) return {"refused", what + ": connection refused"};
  if (ec == asio::error::host_unreachable || ec == asio::error::network_unreachable)
    return {"unreachable", what + ": " + ec.message()};
  if (ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated)
    return {"tls", what + ": " + ec.message()};
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == beast::http::error::end_of_stream ||
      ec == beast::http::error::partial_message)
    return {"protocol", what + ": the server closed the connection"};
  if (ec.category() == beast::http::make_error_code(beast::http::error::bad_version).category())
    return {"protocol", what + ": not HTTP (" + ec.message() + ")"};
  return {"error", what + ": " + ec.message()};
}

asio::awaitable<std::optional<web_failure>> connect_stream(beast::tcp_stream& stream, const web_url& url,
                                                           phase_times& times) {
  std::vector<tcp::endpoint> endpoints;
  boost::system::error_code ec;
  if (const auto literal = parse_ip(url.host)) {
    endpoints.emplace_back(*literal, url.port);
  } else {
    const auto found = co_await resolve_host(url.host);
    if (found.error || found.addresses.empty())
      co_return web_failure{"resolve", "cannot resolve " + url.host + ": " +
                                           (found.error ? found.error.message() : "no address")};
    for (const auto& a : found.addresses) endpoints.emplace_back(a, url.port);
  }
  const auto started = clock::now();
  auto [error, peer] = co_await stream.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
  times.connect_seconds = seconds_since(started);
  if (error) co_return classify_io_error(error, "connect to " + url.host_header());
  times.address = endpoint_text(peer);
  stream.socket().set_option(tcp::no_delay(true), ec);
  co_return std::nullopt;
}

asio::awaitable<std::optional<web_failure>> handshake_tls(tls_stream& stream, const web_url& url,
                                                          const tls_settings& tls, phase_times& times) {
  const std::string name = tls.server_name.empty() ? url.host : tls.server_name;
  const bool is_ip = parse_ip(name).has_value();
  boost::system::error_code ec;
  // SNI carries host names only, never IP literals (RFC 6066).
  if (!is_ip && !SSL_set_tlsext_host_name(stream.native_handle(), name.c_str()))
    co_return web_failure{"tls", "cannot set the TLS server name " + name};
  if (!tls.insecure_skip_verify) stream.set_verify_callback(asio::ssl::host_name_verification(name), ec);
  const auto started = clock::now();
  auto [error] = co_await stream.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  times.tls_seconds = seconds_since(started);
  if (error) {
    auto f = classify_io_error(error, "TLS handshake with " + name);
    if (f.reason != "timeout") f.reason = "tls";
    const long verify = SSL_get_verify_result(stream.native_handle());
    if (verify != X509_V_OK)
      f.error = "TLS handshake with " + name + ": certificate not trusted (" +
                X509_verify_cert_error_string(verify) + ")";
    co_return f;
  }
  co_return std::nullopt;
}

std::string peer_certificate_text(tls_stream& stream) {
  X509* cert = SSL_get1_peer_certificate(stream.native_handle());
  if (cert == nullptr) return {};
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  std::string text = subject;
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, not_after) == 1)
    text += ", expires in " + std::to_string(days) + " days";
  X509_free(cert);
  return text;
}

}  // namespace vitals
