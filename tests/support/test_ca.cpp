#include "support/test_ca.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

namespace vitals::test {

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const { BIO_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test_ca: ") + what + " failed");
}

pkey_ptr make_key() {
  pkey_ptr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

// `value` in openssl.cnf syntax, e.g. "critical,CA:TRUE". The context names
// the issuer, so "keyid" and "hash" resolve against the right certificates.
void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "X509V3_EXT_nconf_nid");
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(added == 1, "X509_add_ext");
}

// A certificate for `key` named CN=`common_name`; issuer_cert == nullptr
// makes it self-signed (then issuer_key is `key`).
x509_ptr make_certificate(EVP_PKEY* key, const char* common_name, X509* issuer_cert, EVP_PKEY* issuer_key,
                          bool is_ca) {
  x509_ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), 2) == 1, "X509_set_version");  // v3

  // A random positive serial: two CAs made by one test run never collide.
  unsigned char serial_bytes[8];
  check(RAND_bytes(serial_bytes, sizeof serial_bytes) == 1, "RAND_bytes");
  serial_bytes[0] &= 0x7f;
  std::uint64_t serial = 0;
  for (unsigned char b : serial_bytes) serial = (serial << 8) | b;
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial | 1) == 1, "ASN1_INTEGER_set_uint64");

  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60 * 60) != nullptr, "X509_gmtime_adj");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 60 * 60) != nullptr, "X509_gmtime_adj");
  check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");

  X509_NAME* subject = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("vitals tests"), -1, -1, 0) == 1,
        "X509_NAME_add_entry_by_txt");
  check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0) == 1,
        "X509_NAME_add_entry_by_txt");
  X509* issuer = issuer_cert ? issuer_cert : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) == 1, "X509_set_issuer_name");

  add_extension(cert.get(), issuer, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
  if (is_ca) {
    add_extension(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), issuer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  }

  check(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string certificate_pem(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  check(bio != nullptr && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return bio_text(bio.get());
}

std::string private_key_pem(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  check(bio != nullptr &&
            PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}

}  // namespace

test_ca test_ca::make() {
  const auto ca_key = make_key();
  const auto ca_cert = make_certificate(ca_key.get(), "vitals test CA", nullptr, ca_key.get(), true);
  const auto server_key = make_key();
  const auto server_cert = make_certificate(server_key.get(), "localhost", ca_cert.get(), ca_key.get(), false);

  test_ca ca;
  ca.ca_cert_pem = certificate_pem(ca_cert.get());
  ca.server.cert_pem = certificate_pem(server_cert.get());
  ca.server.key_pem = private_key_pem(server_key.get());
  return ca;
}

std::string test_ca::write_ca_file(const std::string& dir) const {
  const auto path = (std::filesystem::path(dir) / "ca.pem").string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << ca_cert_pem;
  out.close();
  if (!out) throw std::runtime_error("test_ca: cannot write " + path);
  return path;
}

}  // namespace vitals::test
