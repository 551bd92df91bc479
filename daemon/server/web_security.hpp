#pragma once

// What the HTTP server enforces from a web config: TLS (its own OpenSSL
// context, client certificate policy), basic-auth users, extra headers and
// the rate limit. Made off the loop (it reads certificate files and
// computes a bcrypt hash); immutable afterwards except for the verified-
// credentials cache, which is thread-safe. Asio's SSL layer stays in
// web_security.cpp and http_server.cpp.

#include "daemon/server/web_config.hpp"

#include <sys/types.h>

#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace vitals {

// The outcome of checking one Authorization header.
enum class auth_verdict { allowed, missing, wrong };

// bcrypt basic auth. A correct password is verified once with bcrypt and
// then recognised by a SHA-256 of (user, hash, password) in a bounded
// cache; a wrong one is checked with bcrypt every time. An unknown user
// costs the same bcrypt work as a known one (a decoy hash of the highest
// cost in use), so timing does not tell which user names exist.
class basic_auth {
public:
  explicit basic_auth(std::map<std::string, std::string> users);

  bool enabled() const { return !users_.empty(); }
  // Without bcrypt: allowed when these credentials were verified before,
  // missing when there are none, nullopt when bcrypt must decide.
  std::optional<auth_verdict> quick_check(const std::string* authorization) const;
  // With bcrypt, slow (tens of milliseconds at cost 10): call off the loop.
  auth_verdict verify(const std::string& authorization) const;

private:
  std::string cache_key(std::string_view user, const std::string& hash, std::string_view password) const;

  std::map<std::string, std::string> users_;
  std::string decoy_hash_;
  static constexpr std::size_t max_cached = 1024;
  mutable std::mutex mutex_;
  mutable std::unordered_set<std::string> verified_;
};

// A file a web config depends on, as last seen, to notice a change.
struct file_stamp {
  std::string path;
  ino_t inode = 0;
  off_t size = 0;
  timespec mtime{};
  bool operator==(const file_stamp&) const;
};
file_stamp stamp_of(const std::string& path);

class web_security {
public:
  // Loads what `cfg` names. Throws std::runtime_error with a one-line
  // reason when a certificate, key or CA cannot be used.
  explicit web_security(web_config cfg);
  ~web_security();

  const web_config& config() const { return config_; }
  // Null for plain HTTP.
  boost::asio::ssl::context* tls() const { return tls_.get(); }
  const basic_auth& auth() const { return auth_; }
  // Whether `path` needs credentials: every path but /-/healthy, which load
  // balancers and service managers probe without any and which reveals
  // nothing.
  bool needs_auth(std::string_view path) const;
  // The web config file and every file it names, as they were when loaded.
  const std::vector<file_stamp>& files() const { return files_; }
  bool files_changed() const;

private:
  web_config config_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  basic_auth auth_;
  std::vector<file_stamp> files_;
};

// A web config file loaded and made ready to enforce: `security` (null
// when `path` is empty: plain HTTP, no credentials) or the errors.
// Blocking; run it off the loop.
struct web_security_load {
  std::shared_ptr<const web_security> security;
  std::vector<config_error> errors;
  bool ok() const { return errors.empty(); }
};
web_security_load load_web_security(const std::string& path);

// The headers every response carries unless the web config sets its own
// value for one: nosniff, a CSP without external or inline script,
// frame-ancestors 'none', no referrer.
const std::vector<std::pair<std::string, std::string>>& default_security_headers();

}  // namespace vitals
