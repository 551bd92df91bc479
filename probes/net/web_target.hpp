#pragma once

// What the HTTP and WebSocket probes share: the target URL, TLS settings,
// request headers, and JSON expectations read from the probe's YAML. No
// Beast here: this header is cheap to include.

#include "probes/core/user_regex.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace vitals {

class node_reader;

// http://, https://, ws:// or wss:// — split for connecting.
struct web_url {
  std::string scheme;  // lowercase
  std::string host;    // without brackets for IPv6
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"
  bool tls = false;

  std::string host_header() const;  // "host" or "host:port" when not the default, brackets for IPv6
  std::string text() const;         // the URL again, for messages (userinfo never kept)
};

// Parses `text` for one of `schemes` ("http","https" or "ws","wss"). On
// failure returns nullopt with `error` set to a sentence for the config
// error. A userinfo part ("user:pass@") is rejected: secrets go in headers.
std::optional<web_url> parse_web_url(const std::string& text, bool websocket, std::string& error);

// The readers of these settings work like node_reader::read: true when the
// key was set and its value stored; problems are reported at their position
// and remembered (r.failed()).

// Reads the required `url` key for one of the two scheme pairs.
bool read_web_url(node_reader& r, bool websocket, web_url& out);

// `text` with a URL's user:password@ replaced by "<redacted>@", for messages
// that quote a URL a user wrote.
std::string userinfo_hidden(const std::string& text);

// Resolves a Location header against the URL it came from (relative and
// absolute forms). nullopt when it is not an http(s) URL.
std::optional<web_url> resolve_location(const web_url& base, const std::string& location);

// `tls: {ca_file, server_name, insecure_skip_verify}`.
struct tls_settings {
  std::string ca_file;      // PEM bundle to trust instead of the system's
  std::string server_name;  // SNI and the name verified; default: the URL's host
  bool insecure_skip_verify = false;
};

// A client TLS context made from the settings: TLS 1.2 and later, peer
// verification on unless skipped. Probes with the same CA file and
// verification share one. Throws std::runtime_error naming the problem
// (e.g. an unreadable CA file).
std::shared_ptr<boost::asio::ssl::context> make_client_tls(const tls_settings& s);

// Reads `tls:` if present.
bool read_tls_settings(node_reader& r, tls_settings& out);

// Reads `headers:` (a mapping of names to strings). Values may be secrets
// (${env:}/${file:}); their text is never shown. Names that the probe sets
// itself (Host, Upgrade, Connection, Sec-WebSocket-*) are errors.
bool read_headers(node_reader& r, std::vector<std::pair<std::string, std::string>>& out, bool websocket);

// The values of configured headers that look like credentials
// (Authorization, Cookie, *token*, *key*, *secret*): what must never be
// echoed back from a server's reply into evidence.
std::vector<std::string> secret_header_values(const std::vector<std::pair<std::string, std::string>>& headers);

// Replaces every occurrence of each secret in `text` with <redacted>.
std::string redact(std::string text, const std::vector<std::string>& secrets);

// An `expect_json:` mapping as JSON. Plain YAML scalars become numbers,
// booleans or null when they read as such; quoted ones stay strings.
bool read_expected_json(node_reader& r, const char* key, std::optional<boost::json::value>& out);

// A regular expression (ECMAScript) at `key`: its text into `text`, compiled
// into `out`; otherwise "… is not a valid regular expression".
bool read_regex(node_reader& r, const char* key, std::string& text, std::optional<user_regex>& out);

// Subset match: every key of `expected` is present in `actual` with an
// equal value; nested objects recurse; arrays must be equal element by
// element (each a subset match). A number and a string with the same text
// are equal (YAML has no quoting habit). Returns empty when it matches, else
// where and how it differs: ".database: expected \"connected\", got \"disconnected\"".
std::string json_subset_mismatch(const boost::json::value& expected, const boost::json::value& actual);

// A path like ".metrics.totalErrors", ".items[0].count" or "." (the root).
struct json_path {
  std::string text;
  std::vector<std::variant<std::string, std::size_t>> steps;
};
std::optional<json_path> parse_json_path(const std::string& text);
// The value at `path`, when present.
const boost::json::value* find_json(const boost::json::value& root, const json_path& path);
// A number (booleans count as 0/1) at `path`, when there is one.
std::optional<double> json_number(const boost::json::value& root, const json_path& path);

// "{{unix}}", "{{unix_ms}}" and "{{uuid}}" in `text`, filled in now.
std::string fill_templates(const std::string& text);
// True when `text` has a template that fill_templates would replace.
bool has_templates(const std::string& text);

// The first `max` bytes of `body` as one printable line (control bytes
// shown as spaces, cut on a UTF-8 boundary, "…" when cut).
std::string body_excerpt(const std::string& body, std::size_t max);

}  // namespace vitals
