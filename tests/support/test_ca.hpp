#pragma once

// A throwaway certificate authority for TLS tests: a self-signed CA and a
// server certificate for "localhost" / 127.0.0.1 signed by it, made in
// memory with OpenSSL's C API (no `openssl` binary needed). EC P-256 keys:
// a fresh pair each call, in milliseconds. Nothing here is secret.
// Compiled once, in test_ca.cpp (library vitals_test_fixtures).

#include <string>

namespace vitals::test {

// A certificate (chain) and its private key, PEM, as a server presents them.
struct tls_identity {
  std::string cert_pem;
  std::string key_pem;
};

struct test_ca {
  std::string ca_cert_pem;  // the CA certificate a client trusts
  tls_identity server;      // CN=localhost, SAN DNS:localhost and IP:127.0.0.1, signed by the CA

  // New keys and certificates, valid from an hour ago to a day from now.
  // Throws std::runtime_error when OpenSSL fails.
  static test_ca make();

  // Writes ca_cert_pem to `dir`/ca.pem; returns that path.
  std::string write_ca_file(const std::string& dir) const;
};

}  // namespace vitals::test
