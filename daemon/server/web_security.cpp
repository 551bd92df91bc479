#include "daemon/server/web_security.hpp"

#include "probes/core/text_file.hpp"

#include <boost/asio/ip/address_v6.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/verify_context.hpp>

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace vitals {

namespace ssl = boost::asio::ssl;

namespace {

// "Basic dXNlcjpwYXNz" -> ("user", "pass"); nullopt when malformed.
std::optional<std::pair<std::string, std::string>> basic_credentials(const std::string& header) {
  constexpr std::string_view scheme = "basic ";
  if (header.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) return std::nullopt;
  std::string_view encoded(header);
  encoded.remove_prefix(scheme.size());
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  while (!encoded.empty() && encoded.back() == '=') encoded.remove_suffix(1);
  std::string decoded;
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : encoded) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      decoded += static_cast<char>((bits >> count) & 0xff);
    }
  }
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair(decoded.substr(0, colon), decoded.substr(colon + 1));
}

// crypt_r's work area is 32 KiB: on the heap, not on a pool thread's stack.
bool bcrypt_matches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  const char* out = ::crypt_r(password.c_str(), hash.c_str(), data.get());
  return out != nullptr && out[0] != '*' && std::strlen(out) == hash.size() &&
         CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
}

int bcrypt_cost(const std::string& hash) { return (hash[4] - '0') * 10 + (hash[5] - '0'); }

// A hash of a random password at `cost`, for unknown users to be checked
// against at the same price as known ones.
std::string make_decoy(int cost) {
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> salt{};
  if (::crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, salt.data(), salt.size()) == nullptr)
    throw std::runtime_error("cannot make a bcrypt salt");
  auto data = std::make_unique<crypt_data>();
  const char* out = ::crypt_r("no user has this password", salt.data(), data.get());
  if (out == nullptr || out[0] == '*') throw std::runtime_error("bcrypt is not available in libcrypt");
  return out;
}

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::string read_pem(const std::string& file, const std::string& inline_pem, const char* what) {
  if (!inline_pem.empty()) return inline_pem;
  std::string text;
  if (const int err = read_text_file(file, text, 1 << 20); err != 0)
    throw std::runtime_error(std::string("cannot read ") + what + " \"" + file + "\": " +
                             (err == EFBIG ? "larger than 1 MiB" : std::strerror(err)));
  return text;
}

// Exact match of any subject alternative name of `cert` against `allowed`.
bool san_allowed(X509* cert, const std::vector<std::string>& allowed) {
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return false;
  bool found = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(names) && !found; ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    std::string text;
    if (n->type == GEN_DNS || n->type == GEN_EMAIL || n->type == GEN_URI) {
      const ASN1_IA5STRING* s = n->d.ia5;
      text.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      const auto* bytes = ASN1_STRING_get0_data(n->d.ip);
      const int len = ASN1_STRING_length(n->d.ip);
      std::array<char, 64> buf{};
      if (len == 4) std::snprintf(buf.data(), buf.size(), "%u.%u.%u.%u", bytes[0], bytes[1], bytes[2], bytes[3]);
      else if (len == 16) {
        boost::asio::ip::address_v6::bytes_type b;
        std::copy(bytes, bytes + 16, b.begin());
        std::snprintf(buf.data(), buf.size(), "%s", boost::asio::ip::address_v6(b).to_string().c_str());
      }
      text = buf.data();
    }
    found = !text.empty() && std::find(allowed.begin(), allowed.end(), text) != allowed.end();
  }
  GENERAL_NAMES_free(names);
  return found;
}

std::unique_ptr<ssl::context> make_tls(const tls_server_settings& t) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  auto* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, t.min_version);
  SSL_CTX_set_max_proto_version(native, t.max_version);
  if (t.prefer_server_cipher_suites) SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (!t.cipher_list.empty() && SSL_CTX_set_cipher_list(native, t.cipher_list.c_str()) != 1)
    throw std::runtime_error("none of cipher_suites is available in this OpenSSL");
  if (!t.groups_list.empty() && SSL_CTX_set1_groups_list(native, t.groups_list.c_str()) != 1)
    throw std::runtime_error("none of curve_preferences is available in this OpenSSL");
  boost::system::error_code ec;
  const auto cert = read_pem(t.cert_file, t.cert_pem, "cert_file");
  ctx->use_certificate_chain(boost::asio::buffer(cert), ec);
  if (ec) throw std::runtime_error("the server certificate is not a PEM certificate: " + ec.message());
  const auto key = read_pem(t.key_file, t.key_pem, "key_file");
  ctx->use_private_key(boost::asio::buffer(key), ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(ec.value()) == X509_R_KEY_VALUES_MISMATCH)
    throw std::runtime_error("the key does not belong to the certificate");
  if (ec) throw std::runtime_error("the server key is not a PEM private key: " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1)
    throw std::runtime_error("the key does not belong to the certificate");
  if (t.client_auth_type == client_auth::none) return ctx;

  if (!t.client_ca_file.empty() || !t.client_ca_pem.empty()) {
    const auto ca = read_pem(t.client_ca_file, t.client_ca_pem, "client_ca_file");
    ctx->add_certificate_authority(boost::asio::buffer(ca), ec);
    if (ec) throw std::runtime_error("the client CA is not a PEM certificate: " + ec.message());
  }
  const bool required = t.client_auth_type == client_auth::require_any ||
                        t.client_auth_type == client_auth::require_and_verify;
  const bool verified = t.client_auth_type == client_auth::verify_if_given ||
                        t.client_auth_type == client_auth::require_and_verify;
  ctx->set_verify_mode(ssl::verify_peer | (required ? ssl::verify_fail_if_no_peer_cert : 0));
  ctx->set_verify_callback([verified, sans = t.client_allowed_sans](bool preverified, ssl::verify_context& vc) {
    if (verified && !preverified) return false;
    X509_STORE_CTX* store = vc.native_handle();
    if (X509_STORE_CTX_get_error_depth(store) != 0 || sans.empty()) return true;
    return san_allowed(X509_STORE_CTX_get_current_cert(store), sans);
  });
  return ctx;
}

}  // namespace

basic_auth::basic_auth(std::map<std::string, std::string> users) : users_(std::move(users)) {
  int cost = 0;
  for (const auto& [user, hash] : users_) cost = std::max(cost, bcrypt_cost(hash));
  if (cost > 0) decoy_hash_ = make_decoy(cost);
}

std::string basic_auth::cache_key(std::string_view user, const std::string& hash, std::string_view password) const {
  std::string text;
  text.reserve(user.size() + hash.size() + password.size() + 2);
  text.append(user).append(1, '\0').append(hash).append(1, '\0').append(password);
  return sha256_hex(text);
}

std::optional<auth_verdict> basic_auth::quick_check(const std::string* authorization) const {
  if (authorization == nullptr) return auth_verdict::missing;
  const auto creds = basic_credentials(*authorization);
  if (!creds) return auth_verdict::wrong;  // not Basic, or not base64 of user:password
  const auto it = users_.find(creds->first);
  if (it == users_.end()) return std::nullopt;  // bcrypt against the decoy, for the same time
  const auto key = cache_key(creds->first, it->second, creds->second);
  std::lock_guard lock(mutex_);
  if (verified_.contains(key)) return auth_verdict::allowed;
  return std::nullopt;
}

auth_verdict basic_auth::verify(const std::string& authorization) const {
  const auto creds = basic_credentials(authorization);
  if (!creds) return auth_verdict::wrong;
  const auto it = users_.find(creds->first);
  const bool known = it != users_.end();
  const bool ok = bcrypt_matches(creds->second, known ? it->second : decoy_hash_) && known;
  if (!ok) return auth_verdict::wrong;
  const auto key = cache_key(creds->first, it->second, creds->second);
  std::lock_guard lock(mutex_);
  if (verified_.size() >= max_cached) verified_.clear();
  verified_.insert(key);
  return auth_verdict::allowed;
}

bool file_stamp::operator==(const file_stamp& o) const {
  return path == o.path && inode == o.inode && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
         mtime.tv_nsec == o.mtime.tv_nsec;
}

file_stamp stamp_of(const std::string& path) {
  file_stamp s{.path = path};
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    s.inode = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
  }
  return s;
}

web_security::web_security(web_config cfg) : config_(std::move(cfg)), auth_(config_.basic_auth_users) {
  if (config_.tls) tls_ = make_tls(*config_.tls);
  std::vector<std::string> paths{config_.file};
  if (config_.tls) paths.insert(paths.end(), {config_.tls->cert_file, config_.tls->key_file, config_.tls->client_ca_file});
  for (const auto& p : paths)
    if (!p.empty()) files_.push_back(stamp_of(p));
}

web_security::~web_security() = default;

bool web_security::needs_auth(std::string_view path) const { return auth_.enabled() && path != "/-/healthy"; }

bool web_security::files_changed() const {
  return std::any_of(files_.begin(), files_.end(), [](const file_stamp& f) { return !(stamp_of(f.path) == f); });
}

web_security_load load_web_security(const std::string& path) {
  web_security_load out;
  if (path.empty()) return out;
  auto parsed = load_web_config(path);
  out.errors = std::move(parsed.errors);
  if (!parsed.config) return out;
  try {
    out.security = std::make_shared<const web_security>(std::move(*parsed.config));
  } catch (const std::exception& e) {
    out.errors.push_back(config_error{.file = path, .line = 0, .column = 0, .path = "", .message = e.what()});
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>>& default_security_headers() {
  static const std::vector<std::pair<std::string, std::string>> headers{
      {"X-Content-Type-Options", "nosniff"},
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
  };
  return headers;
}

}  // namespace vitals
