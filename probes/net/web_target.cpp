#include "probes/net/web_target.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/proc_text.hpp"
#include "probes/core/text_file.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

namespace vitals {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::uint16_t default_port(const std::string& scheme) {
  return scheme == "https" || scheme == "wss" ? 443 : 80;
}

std::optional<web_url> from_parsed(const boost::urls::url_view& u, bool websocket, std::string& error) {
  web_url out;
  out.scheme = lower(std::string(u.scheme()));
  const bool ok_scheme = websocket ? (out.scheme == "ws" || out.scheme == "wss")
                                   : (out.scheme == "http" || out.scheme == "https");
  if (!ok_scheme) {
    error = websocket ? "is not a ws:// or wss:// URL" : "is not an http:// or https:// URL";
    return std::nullopt;
  }
  out.tls = out.scheme == "https" || out.scheme == "wss";
  if (!u.has_authority() || u.host().empty()) {
    error = "has no host";
    return std::nullopt;
  }
  if (u.has_userinfo()) {
    error = "carries a user or password; put credentials in headers (from ${env:…} or ${file:…})";
    return std::nullopt;
  }
  if (u.host_type() == boost::urls::host_type::ipv6)
    out.host = std::string(u.encoded_host_address());
  else
    out.host = std::string(u.host());
  if (u.has_port()) {
    const auto n = u.port_number();
    if (n == 0) {
      error = "has an invalid port";
      return std::nullopt;
    }
    out.port = n;
  } else {
    out.port = default_port(out.scheme);
  }
  out.target = std::string(u.encoded_path());
  if (out.target.empty()) out.target = "/";
  if (u.has_query()) out.target += "?" + std::string(u.encoded_query());
  return out;
}

bool is_credential_header(const std::string& name) {
  const std::string n = lower(name);
  return n == "authorization" || n == "proxy-authorization" || n == "cookie" || n.find("token") != std::string::npos ||
         n.find("key") != std::string::npos || n.find("secret") != std::string::npos ||
         n.find("password") != std::string::npos;
}

// A plain YAML scalar as the JSON value it reads as.
boost::json::value scalar_value(const YAML::Node& n) {
  const std::string& text = n.Scalar();
  if (n.Tag() == "!") return boost::json::value(text);  // quoted: a string
  if (text == "null" || text == "~" || text.empty()) return nullptr;
  if (text == "true") return true;
  if (text == "false") return false;
  std::int64_t i = 0;
  if (parse_int(text, i)) return i;
  try {
    std::size_t used = 0;
    const double d = std::stod(text, &used);
    if (used == text.size()) return d;
  } catch (const std::exception&) {
  }
  return boost::json::value(text);
}

boost::json::value yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    boost::json::object o;
    for (const auto& kv : n) o[kv.first.Scalar()] = yaml_to_json(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    boost::json::array a;
    for (const auto& item : n) a.push_back(yaml_to_json(item));
    return a;
  }
  if (n.IsScalar()) return scalar_value(n);
  return nullptr;
}

std::string shown_json(const boost::json::value& v) {
  std::string text = boost::json::serialize(v);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// Scalar text for the lenient number-vs-string comparison.
std::optional<std::string> scalar_text(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64() || v.is_uint64() || v.is_double()) return boost::json::serialize(v);
  return std::nullopt;
}

bool numbers_equal(const boost::json::value& a, const boost::json::value& b) {
  auto as_double = [](const boost::json::value& v) {
    if (v.is_int64()) return static_cast<double>(v.as_int64());
    if (v.is_uint64()) return static_cast<double>(v.as_uint64());
    return v.as_double();
  };
  // Boost.JSON reads some odd spellings ("0e616") as NaN, which equals
  // nothing; a document must still match itself (found by fuzz_json_path).
  const double x = as_double(a), y = as_double(b);
  return x == y || (std::isnan(x) && std::isnan(y));
}

bool is_number(const boost::json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

std::string mismatch_at(const std::string& where, const boost::json::value& expected,
                        const boost::json::value& actual) {
  if (expected.is_object()) {
    if (!actual.is_object()) return where + ": expected an object, got " + shown_json(actual);
    for (const auto& [key, want] : expected.as_object()) {
      const std::string at = where + "." + std::string(key);
      const auto* have = actual.as_object().if_contains(key);
      if (have == nullptr) return at + ": missing";
      if (auto m = mismatch_at(at, want, *have); !m.empty()) return m;
    }
    return {};
  }
  if (expected.is_array()) {
    if (!actual.is_array()) return where + ": expected an array, got " + shown_json(actual);
    const auto& want = expected.as_array();
    const auto& have = actual.as_array();
    if (want.size() != have.size())
      return where + ": expected " + std::to_string(want.size()) + " items, got " + std::to_string(have.size());
    for (std::size_t i = 0; i < want.size(); ++i)
      if (auto m = mismatch_at(where + "[" + std::to_string(i) + "]", want[i], have[i]); !m.empty()) return m;
    return {};
  }
  bool equal = false;
  if (is_number(expected) && is_number(actual)) {
    equal = numbers_equal(expected, actual);
  } else if (expected.kind() == actual.kind()) {
    equal = expected == actual;
  } else {
    const auto a = scalar_text(expected);
    const auto b = scalar_text(actual);
    equal = a && b && *a == *b;
  }
  return equal ? std::string() : where + ": expected " + shown_json(expected) + ", got " + shown_json(actual);
}

std::string uuid_v4() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    // Entropy is never short on Linux; keep a unique-enough fallback anyway.
    const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (std::size_t i = 0; i < sizeof b; ++i) b[i] = static_cast<unsigned char>(t >> ((i % 8) * 8));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char text[37];
  std::snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return text;
}

}  // namespace

std::string web_url::host_header() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == default_port(scheme) ? h : h + ":" + std::to_string(port);
}

std::string web_url::text() const { return scheme + "://" + host_header() + target; }

std::optional<web_url> parse_web_url(const std::string& text, bool websocket, std::string& error) {
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) {
    error = "is not a valid URL";
    return std::nullopt;
  }
  return from_parsed(*parsed, websocket, error);
}

std::string userinfo_hidden(const std::string& text) {
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string::npos) return text;
  const auto authority = scheme_end + 3;
  const auto end = std::min(text.find_first_of("/?#", authority), text.size());
  const auto at = text.substr(authority, end - authority).rfind('@');
  if (at == std::string::npos) return text;
  return text.substr(0, authority) + "<redacted>" + text.substr(authority + at);
}

bool read_web_url(node_reader& r, bool websocket, web_url& out) {
  std::string text;
  if (!r.read_required("url", text)) return false;
  std::string why;
  auto url = parse_web_url(text, websocket, why);
  if (!url) {
    // A password in the URL's user part must not reach the error either.
    const auto shown = r.shown("url");
    r.error("url", (shown == "<redacted>" ? shown : "\"" + printable(userinfo_hidden(text)) + "\"") + " " + why);
    return false;
  }
  out = std::move(*url);
  return true;
}

std::optional<web_url> resolve_location(const web_url& base, const std::string& location) {
  const std::string base_text = base.text();  // url_view borrows: keep the text alive
  auto base_url = boost::urls::parse_absolute_uri(base_text);
  auto ref = boost::urls::parse_uri_reference(location);
  if (!base_url || !ref) return std::nullopt;
  boost::urls::url out;
  if (boost::urls::resolve(*base_url, *ref, out).has_error()) return std::nullopt;
  std::string error;
  return from_parsed(out, false, error);
}

std::shared_ptr<boost::asio::ssl::context> make_client_tls(const tls_settings& s) {
  namespace ssl = boost::asio::ssl;
  // Loading the system's CA bundle costs about a megabyte: probes that
  // trust the same CAs share one context. The server name is set per
  // connection, so it is not part of the key.
  static std::mutex mutex;
  static std::map<std::pair<std::string, bool>, std::weak_ptr<ssl::context>> shared;
  const std::lock_guard lock(mutex);
  auto& slot = shared[{s.ca_file, s.insecure_skip_verify}];
  if (auto existing = slot.lock()) return existing;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (!s.ca_file.empty()) {
    ctx->load_verify_file(s.ca_file, ec);
    if (ec) throw std::runtime_error("cannot load CA file " + s.ca_file + ": " + ec.message());
  } else {
    ctx->set_default_verify_paths(ec);
  }
  ctx->set_verify_mode(s.insecure_skip_verify ? ssl::verify_none : ssl::verify_peer);
  slot = ctx;
  return ctx;
}

bool read_tls_settings(node_reader& r, tls_settings& out) {
  auto tls = r.map("tls");
  if (!tls) return false;
  tls->read("ca_file", out.ca_file, [](const std::string& file, const std::string& shown) {
    if (auto problem = absolute_path{}(file, shown); !problem.empty()) return problem;
    std::string text;
    if (const int err = read_text_file(file, text); err != 0) return "cannot read " + shown + ": " + std::strerror(err);
    return std::string();
  });
  tls->read("server_name", out.server_name);
  tls->read("insecure_skip_verify", out.insecure_skip_verify);
  tls->finish();
  // A CA file that reads but does not load (not PEM, no certificate) is
  // reported here too, like every other setting, not when the probe is built.
  if (!tls->failed() && !out.ca_file.empty()) {
    try {
      make_client_tls(out);
    } catch (const std::runtime_error& e) {
      r.error("tls", e.what());
    }
  }
  return !tls->failed();
}

bool read_headers(node_reader& r, std::vector<std::pair<std::string, std::string>>& out, bool websocket) {
  auto h = r.map("headers");
  if (!h) return false;
  for (const auto& kv : h->node()) {
    const std::string name = kv.first.Scalar();
    h->known({name});
    const std::string n = lower(name);
    const bool reserved = n == "host" || n == "content-length" || n == "transfer-encoding" ||
                          (websocket && (n == "upgrade" || n == "connection" || n.rfind("sec-websocket-", 0) == 0));
    const bool token_chars = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    });
    if (reserved) {
      h->error(name, "\"" + name + "\" is set by the probe itself");
    } else if (!token_chars) {
      h->error(name, "\"" + name + "\" is not a valid header name");
    } else if (std::string value; h->read_required(name, value, [](const std::string& v) {
                 return v.find_first_of("\r\n") != std::string::npos ? "header value must be one line" : "";
               })) {
      out.emplace_back(name, std::move(value));
    }
  }
  return !h->failed();
}

std::vector<std::string> secret_header_values(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::string> secrets;
  for (const auto& [name, value] : headers) {
    if (!is_credential_header(name) || value.empty()) continue;
    secrets.push_back(value);
    // "Bearer abc": the token alone may be echoed too.
    if (const auto space = value.rfind(' '); space != std::string::npos && space + 1 < value.size())
      secrets.push_back(value.substr(space + 1));
  }
  return secrets;
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.size() < 4) continue;  // too short to tell from ordinary text
    for (auto at = text.find(s); at != std::string::npos; at = text.find(s, at + 10))
      text.replace(at, s.size(), "<redacted>");
  }
  return text;
}

bool read_expected_json(node_reader& r, const char* key, std::optional<boost::json::value>& out) {
  auto m = r.map(key);
  if (!m) return false;
  out = yaml_to_json(m->node());
  // Every key under it is the user's data, not config.
  for (const auto& kv : m->node()) m->known({kv.first.Scalar()});
  return true;
}

bool read_regex(node_reader& r, const char* key, std::string& text, std::optional<user_regex>& out) {
  std::string written;
  if (!r.read(key, written)) return false;
  std::string why;
  out = user_regex::compile(written, user_regex::anchoring::search, why);
  if (!out) {
    r.error(key, r.shown(key) + " is not a valid regular expression: " + why);
    return false;
  }
  text = std::move(written);
  return true;
}

std::string json_subset_mismatch(const boost::json::value& expected, const boost::json::value& actual) {
  auto m = mismatch_at("", expected, actual);
  if (!m.empty() && m.front() == ':') m = "." + m;  // the root itself
  return m;
}

std::optional<json_path> parse_json_path(const std::string& text) {
  if (text.empty() || text.front() != '.') return std::nullopt;
  json_path p;
  p.text = text;
  std::size_t i = 1;
  while (i < text.size()) {
    if (text[i] == '[') {
      const auto close = text.find(']', i);
      std::size_t index = 0;
      if (close == std::string::npos || !parse_int(std::string_view(text).substr(i + 1, close - i - 1), index))
        return std::nullopt;
      p.steps.emplace_back(index);
      i = close + 1;
      if (i < text.size() && text[i] == '.') ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && text[end] != '.' && text[end] != '[') ++end;
    if (end == i) return std::nullopt;  // ".." or a trailing "."
    p.steps.emplace_back(text.substr(i, end - i));
    i = end;
    if (i < text.size() && text[i] == '.') {
      ++i;
      if (i == text.size()) return std::nullopt;
    }
  }
  return p;
}

const boost::json::value* find_json(const boost::json::value& root, const json_path& path) {
  const boost::json::value* at = &root;
  for (const auto& step : path.steps) {
    if (const auto* key = std::get_if<std::string>(&step)) {
      if (!at->is_object()) return nullptr;
      at = at->as_object().if_contains(*key);
    } else {
      const auto index = std::get<std::size_t>(step);
      if (!at->is_array() || index >= at->as_array().size()) return nullptr;
      at = &at->as_array()[index];
    }
    if (at == nullptr) return nullptr;
  }
  return at;
}

std::optional<double> json_number(const boost::json::value& root, const json_path& path) {
  const auto* v = find_json(root, path);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  if (v->is_double()) return v->as_double();
  if (v->is_bool()) return v->as_bool() ? 1.0 : 0.0;
  return std::nullopt;
}

bool has_templates(const std::string& text) {
  return text.find("{{unix}}") != std::string::npos || text.find("{{unix_ms}}") != std::string::npos ||
         text.find("{{uuid}}") != std::string::npos;
}

std::string fill_templates(const std::string& text) {
  if (!has_templates(text)) return text;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const std::pair<std::string, std::string> fills[] = {
      {"{{unix_ms}}", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count())},
      {"{{unix}}", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count())},
      {"{{uuid}}", ""},
  };
  std::string out = text;
  for (const auto& [tag, value] : fills) {
    for (auto at = out.find(tag); at != std::string::npos; at = out.find(tag, at)) {
      const std::string fill = tag == "{{uuid}}" ? uuid_v4() : value;
      out.replace(at, tag.size(), fill);
      at += fill.size();
    }
  }
  return out;
}

std::string body_excerpt(const std::string& body, std::size_t max) {
  std::string out;
  out.reserve(std::min(body.size(), max));
  std::size_t used = 0;  // bytes of `body` taken
  for (; used < body.size() && out.size() < max; ++used) {
    const auto c = static_cast<unsigned char>(body[used]);
    const bool blank = c < 0x20 || c == 0x7f || c == ' ';
    if (blank) {
      if (!out.empty() && out.back() != ' ') out += ' ';  // runs of blanks and control bytes: one space
    } else {
      out += static_cast<char>(c);
    }
  }
  // Cut inside a UTF-8 sequence: drop its first bytes too.
  if (used < body.size() && (static_cast<unsigned char>(body[used]) & 0xC0) == 0x80) {
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty()) out.pop_back();
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (used < body.size()) out += "…";
  return out;
}

}  // namespace vitals
