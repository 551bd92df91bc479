#pragma once

// The web configuration file of Prometheus exporters (exporter-toolkit's
// format, given with --web.config.file): TLS and client certificates,
// headers added to every response, and bcrypt basic-auth users. A file
// written for node_exporter works unchanged. Reading it opens nothing but
// the file itself; web_security (web_security.hpp) loads what it names.

#include "probes/core/diagnostics.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vitals {

// Who must show a client certificate, as Go's crypto/tls names it.
enum class client_auth {
  none,                 // NoClientCert
  request,              // RequestClientCert: asked for, not required, not verified
  require_any,          // RequireAnyClientCert (or RequireClientCert): required, not verified
  verify_if_given,      // VerifyClientCertIfGiven
  require_and_verify,   // RequireAndVerifyClientCert: the only one that authenticates
};

// TLS protocol versions as OpenSSL numbers them (TLS1_2_VERSION, …).
struct tls_server_settings {
  // The server's certificate (chain) and key: a file or inline PEM, one of each.
  std::string cert_file, key_file;
  std::string cert_pem, key_pem;
  client_auth client_auth_type = client_auth::none;
  std::string client_ca_file;
  std::string client_ca_pem;
  std::vector<std::string> client_allowed_sans;  // exact match against any SAN of the client certificate
  int min_version = 0x0303;  // TLS12
  int max_version = 0x0304;  // TLS13
  std::string cipher_list;    // OpenSSL names for TLS 1.2 and below, ':'-joined; empty: the defaults
  std::string groups_list;    // OpenSSL group names, ':'-joined; empty: the defaults
  bool prefer_server_cipher_suites = true;
};

struct web_config {
  std::string file;  // where it was read from, for messages; empty: no web config
  std::optional<tls_server_settings> tls;
  // Added to every response (after vitalsd's own security headers, which
  // they replace when they name the same header).
  std::map<std::string, std::string> headers;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
  // rate_limit: at most `burst` requests at once, refilled one per interval.
  std::optional<std::chrono::milliseconds> rate_interval;
  int rate_burst = 0;
};

struct web_config_result {
  std::optional<web_config> config;  // empty when there are errors
  std::vector<config_error> errors;
};

// Parses the text of a web config file. Unknown keys, unknown cipher or
// curve names, bad versions, headers other than the five the format
// allows, and passwords that are not bcrypt hashes are errors at
// file:line:column. Relative paths are taken relative to `base_dir`.
web_config_result parse_web_config(const std::string& text, const std::string& file_name,
                                   const std::string& base_dir);
// Reads and parses the file (at most 1 MiB).
web_config_result load_web_config(const std::string& path);

}  // namespace vitals
