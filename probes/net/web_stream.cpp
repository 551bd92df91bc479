#include "probes/net/web_stream.hpp"

#include "probes/net/host_addresses.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <openssl/bio.h>
#include <openssl/x509.h>

#include <chrono>
#include <ctime>
#include <vector>

namespace vitals {

namespace {

using clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

// A certificate's name as RFC 2253 text ("CN=api.example.com,O=Example"),
// multibyte characters as they are (the scheduler repairs invalid UTF-8),
// cut at a length evidence can show.
std::string name_text(const X509_NAME* name) {
  constexpr std::size_t max_bytes = 256;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string text(data, size > 0 ? static_cast<std::size_t>(size) : 0);
  BIO_free(bio);
  if (text.size() > max_bytes) text = text.substr(0, max_bytes) + "...";
  return text;
}

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

std::optional<tls_chain> peer_chain(tls_stream& stream) {
  // On a client the stack holds the server's own certificate too, first
  // (SSL_get_peer_cert_chain(3)). The SSL object owns it.
  STACK_OF(X509)* sent = SSL_get_peer_cert_chain(stream.native_handle());
  if (sent == nullptr) return std::nullopt;
  std::vector<tls_certificate> certificates;
  for (int i = 0; i < sk_X509_num(sent); ++i) {
    X509* c = sk_X509_value(sent, i);
    std::tm not_after{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(c), &not_after) != 1) continue;
    certificates.push_back({name_text(X509_get_subject_name(c)), name_text(X509_get_issuer_name(c)),
                            static_cast<std::int64_t>(timegm(&not_after))});
  }
  if (certificates.empty()) return std::nullopt;
  return summarize_chain(certificates);
}

}  // namespace vitals
