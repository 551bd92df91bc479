#include "daemon/server/web_config.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/text_file.hpp"
#include "probes/core/units.hpp"
#include "probes/core/yaml_bounds.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

namespace vitals {

namespace {

constexpr std::size_t max_web_config_bytes = 1 << 20;

// Go's names (crypto/tls CipherSuites(), the ones exporter-toolkit accepts)
// and OpenSSL's. The TLS 1.3 suites cannot be chosen in Go either: they are
// accepted and left to the defaults.
struct cipher_name {
  std::string_view go, openssl;
};
constexpr std::array<cipher_name, 13> cipher_names{{
    {"TLS_AES_128_GCM_SHA256", ""},
    {"TLS_AES_256_GCM_SHA384", ""},
    {"TLS_CHACHA20_POLY1305_SHA256", ""},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 4> curve_names{{
    {"CurveP256", "P-256"}, {"CurveP384", "P-384"}, {"CurveP521", "P-521"}, {"X25519", "X25519"}}};

// The headers the format lets a file set, and the values it allows (none
// listed: any one-line value).
struct allowed_header {
  std::string_view name;
  std::vector<std::string_view> values;
};
const std::array<allowed_header, 5>& allowed_headers() {
  static const std::array<allowed_header, 5> headers{{{"Strict-Transport-Security", {}},
                                                      {"X-Content-Type-Options", {"nosniff"}},
                                                      {"X-Frame-Options", {"deny", "sameorigin"}},
                                                      {"X-XSS-Protection", {}},
                                                      {"Content-Security-Policy", {}}}};
  return headers;
}

std::string relative_to(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

// A list of names, each mapped through `table`; unknown names are errors
// listing the known ones.
template <std::size_t N>
std::string read_names(node_reader& r, std::string_view key, const std::array<std::pair<std::string_view, std::string_view>, N>& table) {
  std::string joined;
  auto items = r.sequence(key);
  if (!items) return joined;
  for (auto& item : *items) {
    const std::string name = item.node().IsScalar() ? item.node().Scalar() : std::string();
    const auto it = std::find_if(table.begin(), table.end(), [&](const auto& e) { return e.first == name; });
    if (it == table.end()) {
      std::string known;
      for (const auto& e : table) known += (known.empty() ? "" : ", ") + std::string(e.first);
      item.error_here("unknown name " + quoted(name) + " (known: " + known + ")");
      continue;
    }
    if (it->second.empty()) continue;
    joined += (joined.empty() ? "" : ":") + std::string(it->second);
  }
  return joined;
}

std::optional<int> read_version(node_reader& r, std::string_view key) {
  auto v = r.one_of(key, {"TLS10", "TLS11", "TLS12", "TLS13"});
  if (!v) return std::nullopt;
  return 0x0301 + (v->back() - '0');
}

void read_tls(node_reader& r, const std::string& base_dir, web_config& out) {
  tls_server_settings tls;
  if (auto v = r.string("cert_file")) tls.cert_file = relative_to(base_dir, *v);
  if (auto v = r.string("key_file")) tls.key_file = relative_to(base_dir, *v);
  if (auto v = r.string("cert")) tls.cert_pem = *v;
  if (auto v = r.string("key")) tls.key_pem = *v;
  if (auto v = r.string("client_ca_file")) tls.client_ca_file = relative_to(base_dir, *v);
  if (auto v = r.string("client_ca")) tls.client_ca_pem = *v;
  r.read("client_auth_type", tls.client_auth_type,
         {{"NoClientCert", client_auth::none},
          {"RequestClientCert", client_auth::request},
          {"RequireAnyClientCert", client_auth::require_any},
          {"RequireClientCert", client_auth::require_any},
          {"VerifyClientCertIfGiven", client_auth::verify_if_given},
          {"RequireAndVerifyClientCert", client_auth::require_and_verify}});
  if (auto sans = r.sequence("client_allowed_sans"))
    for (auto& item : *sans) {
      if (item.node().IsScalar() && !item.node().Scalar().empty())
        tls.client_allowed_sans.push_back(item.node().Scalar());
      else
        item.error_here("expected a DNS name, IP address, e-mail address or URI");
    }
  if (auto v = read_version(r, "min_version")) tls.min_version = *v;
  if (auto v = read_version(r, "max_version")) tls.max_version = *v;
  std::array<std::pair<std::string_view, std::string_view>, cipher_names.size()> ciphers;
  for (std::size_t i = 0; i < cipher_names.size(); ++i) ciphers[i] = {cipher_names[i].go, cipher_names[i].openssl};
  tls.cipher_list = read_names(r, "cipher_suites", ciphers);
  tls.groups_list = read_names(r, "curve_preferences", curve_names);
  r.read("prefer_server_cipher_suites", tls.prefer_server_cipher_suites);
  r.finish();
  if (r.failed()) return;

  // As in exporter-toolkit: a section with nothing set means plain HTTP.
  const bool any = !tls.cert_file.empty() || !tls.key_file.empty() || !tls.cert_pem.empty() || !tls.key_pem.empty() ||
                   !tls.client_ca_file.empty() || !tls.client_ca_pem.empty() || tls.client_auth_type != client_auth::none;
  if (!any) return;
  if (tls.cert_file.empty() == tls.cert_pem.empty())
    r.error_here(tls.cert_file.empty() ? "missing one of cert or cert_file" : "set cert or cert_file, not both");
  if (tls.key_file.empty() == tls.key_pem.empty())
    r.error_here(tls.key_file.empty() ? "missing one of key or key_file" : "set key or key_file, not both");
  if (!tls.client_ca_file.empty() && !tls.client_ca_pem.empty())
    r.error_here("set client_ca or client_ca_file, not both");
  const bool has_ca = !tls.client_ca_file.empty() || !tls.client_ca_pem.empty();
  if (has_ca && tls.client_auth_type == client_auth::none)
    r.error("client_auth_type", "a client CA is set but client_auth_type is NoClientCert; "
                                "use RequireAndVerifyClientCert to check client certificates");
  if (!has_ca && (tls.client_auth_type == client_auth::require_and_verify ||
                  tls.client_auth_type == client_auth::verify_if_given))
    r.error("client_auth_type", "verifying client certificates needs client_ca_file or client_ca");
  if (tls.min_version > tls.max_version) r.error("min_version", "is above max_version");
  if (!r.failed()) out.tls = std::move(tls);
}

void read_http(node_reader& r, web_config& out) {
  // vitalsd speaks HTTP/1.1 only; the key is read so that a file shared
  // with other exporters loads.
  (void)r.boolean("http2");
  if (auto h = r.map("headers")) {
    for (const auto& kv : h->node()) {
      const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
      h->known({name});
      const auto& list = allowed_headers();
      const auto it = std::find_if(list.begin(), list.end(), [&](const auto& a) { return a.name == name; });
      if (it == list.end()) {
        h->error(name, "header " + quoted(name) + " can not be configured (allowed: Content-Security-Policy, "
                       "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection)");
        continue;
      }
      std::string value;
      if (!h->read(name, value, [&](const std::string& v) -> std::string {
            if (v.find_first_of("\r\n") != std::string::npos) return "a header value must be one line";
            if (!it->values.empty() && std::find(it->values.begin(), it->values.end(), v) == it->values.end()) {
              std::string ok;
              for (auto a : it->values) ok += (ok.empty() ? "" : " or ") + std::string(a);
              return "expected " + ok;
            }
            return "";
          }))
        continue;
      if (!value.empty()) out.headers[name] = value;  // blank: unset, as the format says
    }
    h->finish();
  }
  r.finish();
}

// bcrypt's modular crypt format: $2a$, $2b$ or $2y$, a two-digit cost, 53
// characters of salt and hash.
bool is_bcrypt_hash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (!std::isdigit(static_cast<unsigned char>(h[4])) || !std::isdigit(static_cast<unsigned char>(h[5]))) return false;
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(h.begin() + 7, h.end(), [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '/'; });
}

void read_users(node_reader& r, web_config& out) {
  for (const auto& kv : r.node()) {
    const std::string user = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
    r.known({user});
    if (user.empty() || user.find(':') != std::string::npos) {
      r.error(user, "a user name must be non-empty and hold no ':'");
      continue;
    }
    std::string hash;
    // The hash is not a secret by itself, but there is no reason to echo it.
    if (r.read_required(user, hash, [](const std::string& v) {
          return is_bcrypt_hash(v) ? "" : "expected a bcrypt hash ($2y$10$…, e.g. from htpasswd -nBC 10)";
        }))
      out.basic_auth_users[user] = hash;
  }
  r.finish();
}

void read_rate_limit(node_reader& r, web_config& out) {
  std::chrono::milliseconds interval{0};
  int burst = 0;
  r.read("interval", interval);
  r.read("burst", burst, between{0, 1'000'000});
  r.finish();
  if (r.failed() || interval.count() == 0) return;
  if (burst < 1) {
    r.error("burst", "must be at least 1 when interval is set");
    return;
  }
  out.rate_interval = interval;
  out.rate_burst = burst;
}

}  // namespace

web_config_result parse_web_config(const std::string& text, const std::string& file_name,
                                   const std::string& base_dir) {
  diagnostics diags(file_name);
  web_config cfg;
  cfg.file = file_name;
  try {
    YAML::Node root;
    if (load_bounded_yaml(text, root, diags) && !root.IsNull()) {
      node_reader top(root, "", diags);
      if (!root.IsMap()) {
        top.error_here("expected a mapping with tls_server_config, http_server_config or basic_auth_users");
      } else {
        if (auto tls = top.map("tls_server_config")) read_tls(*tls, base_dir, cfg);
        if (auto http = top.map("http_server_config")) read_http(*http, cfg);
        if (auto users = top.map("basic_auth_users")) read_users(*users, cfg);
        if (auto rate = top.map("rate_limit")) read_rate_limit(*rate, cfg);
        top.finish();
      }
    }
  } catch (const std::exception& e) {
    diags.add(YAML::Mark::null_mark(), "", std::string("internal error while loading: ") + e.what());
  }
  web_config_result result;
  result.errors = diags.errors();
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

web_config_result load_web_config(const std::string& path) {
  std::string text;
  if (const int err = read_text_file(path, text, max_web_config_bytes); err != 0) {
    web_config_result result;
    const std::string why = err == EFBIG ? "larger than " + format_bytes(max_web_config_bytes) : std::strerror(err);
    result.errors.push_back(config_error{.file = path, .line = 0, .column = 0, .path = "",
                                         .message = "cannot read web config file: " + why});
    return result;
  }
  const auto slash = path.rfind('/');
  return parse_web_config(text, path, slash == std::string::npos ? std::string() : path.substr(0, slash));
}

}  // namespace vitals
