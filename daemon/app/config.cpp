#include "daemon/app/config.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/secrets.hpp"
#include "probes/core/text_file.hpp"
#include "probes/core/units.hpp"
#include "probes/core/yaml_bounds.hpp"
#include "probes/net/host_addresses.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>

namespace vitals {

namespace {

// health_tracker remembers the last 64 runs in one 64-bit word.
constexpr int max_failure_window = 64;
constexpr int max_threshold = 100;

bool valid_probe_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '-';
  });
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// "host:port" or "[v6]:port"; port 0 asks the kernel for any free port.
void read_listen(node_reader& server, server_settings& s) {
  auto listen = server.string("listen");
  if (!listen) return;
  std::string problem;
  if (!parse_host_port(*listen, problem)) {
    server.error("listen", problem + ", got " + server.shown("listen"));
    return;
  }
  s.listen = *listen;
}

// An absolute http(s) URL with a host; no credentials, query or fragment,
// since every alert's links start with it.
std::string external_url_problem(const std::string& url, const std::string& shown) {
  const auto parsed = boost::urls::parse_absolute_uri(url);
  const bool web = parsed && (parsed->scheme_id() == boost::urls::scheme::http ||
                              parsed->scheme_id() == boost::urls::scheme::https);
  if (web && !parsed->encoded_host().empty() && !parsed->has_userinfo() && !parsed->has_query() &&
      !parsed->has_fragment())
    return "";
  return "expected the URL users reach vitalsd at, like \"https://vitals.example.com/\" (http or https, a host, "
         "no credentials, query or fragment), got " + shown;
}

void read_server(node_reader& r, server_settings& s) {
  read_listen(r, s);
  if (r.read("external_url", s.external_url, external_url_problem) && !s.external_url.ends_with('/'))
    s.external_url += '/';
  if (auto v = r.boolean("enable_lifecycle")) s.enable_lifecycle = *v;
  if (auto v = r.integer("max_connections", 1, 10'000)) s.max_connections = static_cast<int>(*v);
  if (auto v = r.duration("header_timeout")) {
    if (v->count() <= 0)
      r.error("header_timeout", "must be longer than 0s");
    else
      s.header_timeout = *v;
  }
  if (auto v = r.size("max_request_size")) {
    if (*v == 0)
      r.error("max_request_size", "must be more than 0 bytes");
    else
      s.max_request_bytes = *v;
  }
  if (auto v = r.string("web_config_file")) s.web_config_file = *v;
  if (auto hosts = r.sequence("allowed_hosts")) {
    for (auto& item : *hosts) {
      if (item.node().IsScalar() && !item.node().Scalar().empty())
        s.allowed_hosts.push_back(item.node().Scalar());
      else
        item.error_here("expected a host name or host:port");
    }
  }
  r.finish();
}

void read_log(node_reader& r, log_settings& s) {
  if (auto v = r.one_of("level", {"trace", "debug", "info", "warn", "error"})) s.level = *v;
  if (auto v = r.one_of("format", {"text", "json"})) s.format = *v;
  r.finish();
}

void read_state(node_reader& r, state_settings& s) {
  if (auto v = r.string("path")) {
    if (v->empty())
      r.error("path", "must not be empty");
    else
      s.path = *v;
  }
  if (auto v = r.duration("max_age")) {
    if (v->count() <= 0)
      r.error("max_age", "must be positive");
    else if (*v > std::chrono::hours(24 * 36500))
      r.error("max_age", "must be at most 36500d");
    else
      s.max_age = *v;
  }
  if (auto v = r.integer("max_incidents", 1, 10'000'000)) s.max_incidents = static_cast<std::size_t>(*v);
  if (auto v = r.duration("history_max_age")) {
    if (v->count() <= 0)
      r.error("history_max_age", "must be positive");
    else if (*v > std::chrono::hours(24 * 366))
      r.error("history_max_age", "must be at most 366d (hourly aggregates are kept at most that long)");
    else
      s.history_max_age = *v;
  }
  r.finish();
}

std::optional<duration> positive_duration(node_reader& r, std::string_view key) {
  auto v = r.duration(key);
  if (!v) return std::nullopt;
  if (v->count() <= 0) {
    r.error(key, "must be longer than 0s");
    return std::nullopt;
  }
  return v;
}

// The scheduling keys shared by `defaults` and every probe. Values not set
// in `r` stay as they are in `s` (the defaults).
void read_schedule(node_reader& r, probe_settings& s) {
  if (auto v = positive_duration(r, "interval")) s.interval = *v;
  if (auto v = positive_duration(r, "timeout")) s.timeout = *v;
  if (auto v = positive_duration(r, "unhealthy_interval")) s.unhealthy_interval = *v;
  // A threshold above the window could never be reached, and the window is
  // at most 64 runs, so 64 is the real ceiling for failure_threshold.
  if (auto v = r.integer("failure_threshold", 1, max_failure_window)) s.failure_threshold = static_cast<int>(*v);
  if (auto v = r.integer("success_threshold", 1, max_threshold)) s.success_threshold = static_cast<int>(*v);
  if (auto v = r.integer("failure_window", 1, max_failure_window)) s.failure_window = static_cast<int>(*v);
}

// Checks how the scheduling values fit together. The error goes to a key
// written in `r`; a value that came from elsewhere is named as such
// (`inherited`: "from defaults" for a probe, "the built-in default" for the
// defaults section). When neither key is written here, the problem is not
// this mapping's and was reported where it was written.
void check_schedule(node_reader& r, const probe_settings& s, std::string_view inherited) {
  auto origin = [&](std::string_view key) {
    return r.has(key) ? std::string() : " (" + std::string(inherited) + ")";
  };
  if (s.timeout >= s.interval) {
    if (r.has("timeout"))
      r.error("timeout", format_duration(s.timeout) + " must be shorter than interval " +
                             format_duration(s.interval) + origin("interval"));
    else if (r.has("interval"))
      r.error("interval", format_duration(s.interval) + " must be longer than timeout " +
                              format_duration(s.timeout) + origin("timeout"));
  }
  if (s.unhealthy_interval && s.timeout >= *s.unhealthy_interval) {
    if (r.has("timeout"))
      r.error("timeout", format_duration(s.timeout) + " must be shorter than unhealthy_interval " +
                             format_duration(*s.unhealthy_interval) + origin("unhealthy_interval"));
    else if (r.has("unhealthy_interval"))
      r.error("unhealthy_interval", format_duration(*s.unhealthy_interval) + " must be longer than timeout " +
                                        format_duration(s.timeout) + origin("timeout"));
  }
  if (s.failure_window > 0 && s.failure_window < s.failure_threshold) {
    if (r.has("failure_window"))
      r.error("failure_window", std::to_string(s.failure_window) + " must be at least failure_threshold " +
                                    std::to_string(s.failure_threshold) + origin("failure_threshold"));
    else if (r.has("failure_threshold"))
      r.error("failure_threshold", std::to_string(s.failure_threshold) + " must not exceed failure_window " +
                                       std::to_string(s.failure_window) + origin("failure_window"));
  }
}

// Length-prefixed, so no scalar can imitate structure ("a,b" vs "a","b"),
// and map keys sorted, so reordering keys is not a change.
void canonical(const YAML::Node& node, std::string& out) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      out += std::to_string(node.Scalar().size()) + "'" + node.Scalar();
      return;
    case YAML::NodeType::Sequence:
      out += "[";
      for (const auto& item : node) {
        canonical(item, out);
        out += ",";
      }
      out += "]";
      return;
    case YAML::NodeType::Map: {
      std::vector<std::pair<std::string, std::string>> pairs;
      for (const auto& pair : node) {
        std::string key, value;
        canonical(pair.first, key);
        canonical(pair.second, value);
        pairs.emplace_back(std::move(key), std::move(value));
      }
      std::sort(pairs.begin(), pairs.end());
      out += "{";
      for (const auto& [key, value] : pairs) out += key + ":" + value + ",";
      out += "}";
      return;
    }
    default:
      out += "~";
      return;
  }
}

// The 128-bit FNV-1a hash of the probe's canonical text: 16 bytes to keep
// and compare instead of the text (a few hundred bytes, held by the config
// and by the scheduler for every probe). It is only ever compared with the
// previous fingerprint of the same probe, so an accidental collision (odds
// of 2^-128 per change) is the only way to mistake a change for none.
std::string fingerprint(const YAML::Node& node, const probe_settings& s) {
  std::string out;
  canonical(node, out);
  // The effective settings too: a probe that inherits its interval changes
  // when `defaults` changes, though its own YAML did not.
  out += "|interval=" + std::to_string(s.interval.count());
  out += ";timeout=" + std::to_string(s.timeout.count());
  out += ";unhealthy_interval=" + (s.unhealthy_interval ? std::to_string(s.unhealthy_interval->count()) : "-");
  out += ";failure_threshold=" + std::to_string(s.failure_threshold);
  out += ";success_threshold=" + std::to_string(s.success_threshold);
  out += ";failure_window=" + std::to_string(s.effective_failure_window());
  __extension__ typedef unsigned __int128 u128;  // GCC and Clang: 128-bit arithmetic
  const u128 prime = (u128{1} << 88) + 0x13b;
  u128 hash = (u128{0x6c62272e07bb0142} << 64) + 0x62b821756295c58d;
  for (const unsigned char c : out) {
    hash ^= c;
    hash *= prime;
  }
  std::string digest(16, '\0');
  for (std::size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<char>(hash >> (8 * i));
  return digest;
}

// The running instance of an unchanged probe, or null.
std::shared_ptr<probe> unchanged_instance(const config* previous, const probe_spec& spec) {
  if (previous == nullptr) return nullptr;
  for (const auto& p : previous->probes)
    if (p.settings.name == spec.settings.name && p.fingerprint == spec.fingerprint) return p.instance;
  return nullptr;
}

void read_probe(node_reader& item, config& cfg, const probe_registry& registry, const load_options& options,
                std::map<std::string, int>& first_line_of_name) {
  if (!item.is_map()) {
    item.error_here("expected a mapping with at least name and type");
    return;
  }
  probe_spec spec;
  spec.settings = cfg.defaults;
  spec.settings.name.clear();
  spec.settings.type.clear();

  if (item.require("name")) {
    if (auto name = item.string("name")) {
      if (name->empty()) {
        item.error("name", "must not be empty");
      } else if (!valid_probe_name(*name)) {
        item.error("name", item.shown("name") +
                               " may contain only letters, digits and _ . : - (it becomes the probe label)");
      } else if (item.is_secret("name")) {
        // A secret would be <redacted> in every label, log and alert: no name at all.
        item.error("name", "cannot come from ${env:…} or ${file:…}: the name is shown everywhere");
      } else {
        int line = item.node()["name"].Mark().line + 1;
        auto [first, inserted] = first_line_of_name.emplace(*name, line);
        if (!inserted)
          item.error("name", "duplicate probe name " + item.shown("name") + " (first used at line " +
                                 std::to_string(first->second) + ")");
      }
      spec.settings.name = *name;
    }
  }

  const probe_kind* kind = nullptr;
  if (item.require("type")) {
    if (auto type = item.string("type")) {
      kind = registry.find(*type);
      if (kind == nullptr) {
        auto types = registry.types();
        std::string message = "unknown probe type " + item.shown("type") + " (known: " +
                              (types.empty() ? std::string("none") : join(types)) + ")";
        if (auto suggestion = did_you_mean(*type, types); !suggestion.empty())
          message += "; did you mean \"" + suggestion + "\"?";
        item.error("type", std::move(message));
      }
      spec.settings.type = *type;
    }
  }

  read_schedule(item, spec.settings);
  check_schedule(item, spec.settings, "from defaults");

  spec.fingerprint = fingerprint(item.node(), spec.settings);

  // Without a kind nobody can say which other keys belong here, so they
  // are not reported as unknown.
  if (kind != nullptr) {
    probe_builder build = kind->create(spec.settings, item);
    item.finish();
    if (!build) {
      if (!item.failed()) item.error_here("probe type \"" + spec.settings.type + "\" could not be set up");
    } else if (options.build != nullptr && !item.failed()) {
      spec.instance = unchanged_instance(options.previous, spec);
      try {
        if (!spec.instance) spec.instance = build(*options.build);
      } catch (const std::exception& e) {
        item.error_here("probe type \"" + spec.settings.type + "\" could not be set up: " + e.what());
      }
      if (!spec.instance && !item.failed())
        item.error_here("probe type \"" + spec.settings.type + "\" could not be set up");
    }
  }

  cfg.probes.push_back(std::move(spec));
}

void read_config(const YAML::Node& root, config& cfg, diagnostics& diags, const probe_registry& registry,
                 const load_options& options) {
  if (root.IsNull()) return;  // an empty file: every default, no probes
  node_reader top(root, "", diags);
  if (!root.IsMap()) {
    top.error_here("expected a mapping with sections like server, log, defaults and probes");
    return;
  }
  if (auto server = top.map("server")) read_server(*server, cfg.server);
  if (auto log = top.map("log")) read_log(*log, cfg.log);
  if (auto state = top.map("state")) read_state(*state, cfg.state);
  if (auto defaults = top.map("defaults")) {
    read_schedule(*defaults, cfg.defaults);
    check_schedule(*defaults, cfg.defaults, "the built-in default");
    defaults->finish();
  }
  if (auto probes = top.sequence("probes")) {
    std::map<std::string, int> first_line_of_name;
    for (auto& item : *probes) read_probe(item, cfg, registry, options, first_line_of_name);
    // The running config is kept for reloads: without the room growth left
    // over, 10,000 probes hold 1.6 MiB, not 2.6.
    cfg.probes.shrink_to_fit();
  }
  // The built-ins hold a failed run's series for as long as the slowest
  // probe of their kind and the evaluation interval need.
  const auto holds = [&] {
    std::vector<std::pair<std::string, std::chrono::milliseconds>> intervals;
    for (const auto& p : cfg.probes)
      intervals.emplace_back(p.settings.type, std::chrono::duration_cast<std::chrono::milliseconds>(p.settings.interval));
    return alerts::builtin_holds(registry, intervals, cfg.alert_evaluation_interval);
  };
  if (top.has("alerts")) {
    if (auto alerts = top.map("alerts")) {
      if (alerts->has("evaluation_interval")) {
        if (auto d = alerts->duration("evaluation_interval")) {
          if (d->count() < 100)
            alerts->error("evaluation_interval", format_duration(*d) + " is too short (100ms at least)");
          else
            cfg.alert_evaluation_interval = *d;
        }
      }
      if (alerts->has("max_history_series")) {
        if (auto n = alerts->integer("max_history_series", 1, 10'000'000))
          cfg.alert_max_history_series = static_cast<std::size_t>(*n);
      }
      if (alerts->has("max_history_samples")) {
        if (auto n = alerts->integer("max_history_samples", 1000, 1'000'000'000))
          cfg.alert_max_history_samples = static_cast<std::size_t>(*n);
      }
      cfg.alert_rules = alerts::read_alert_rules(*alerts, registry, holds());
      alerts->finish();
    }
  } else {
    cfg.alert_rules = alerts::builtin_rules(registry, alerts::default_runbook_base, holds());
  }
  if (auto notify = top.map("notify")) {
    read_notify_settings(*notify, cfg.notifications);
    notify->finish();
  }
  top.finish();
}

// A rule's text reaches every alert, the state file and every receiver,
// where a secret in it would be <redacted> anyway: it is redacted here,
// once. `when` is parsed again from its redacted text, so it selects series
// by their labels as /metrics shows them, redacted the same way. A built-in
// rule's text is the daemon's own; only its runbook URL is the user's.
void redact_rules(config& cfg, diagnostics& diags) {
  const auto& secrets = cfg.secrets;
  for (auto& r : cfg.alert_rules) {
    secrets.redact(r.runbook_url);
    if (r.builtin) continue;
    if (secrets.redacted(r.name) != r.name)
      diags.add(YAML::Mark::null_mark(), "alerts.rules", "an alert name cannot come from ${env:…} or ${file:…}");
    for (auto* text : {&r.summary, &r.description}) secrets.redact(*text);
    for (auto& [key, value] : r.labels) secrets.redact(value);
    if (!r.when || secrets.redacted(r.when->text()) == r.when->text()) continue;
    auto parsed = alerts::parse_expr(secrets.redacted(r.when->text()));
    if (!parsed.value) {
      diags.add(YAML::Mark::null_mark(), "alerts.rules",
                "rule " + r.name + ": a value from ${env:…} or ${file:…} in when must be a whole label value");
      continue;
    }
    r.when = std::move(parsed.value);
    r.when_text = r.when->text();
  }
}

load_result finish_load(std::shared_ptr<config> cfg, diagnostics& diags) {
  load_result result;
  cfg->secrets = diags.secrets();
  if (!cfg->secrets.empty()) redact_rules(*cfg, diags);
  if (diags.ok()) {
    result.cfg = std::move(cfg);
    return result;
  }
  result.errors = diags.errors();
  // Secret substitution runs before validation; show errors in file order.
  std::stable_sort(result.errors.begin(), result.errors.end(), [](const config_error& a, const config_error& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return result;
}

}  // namespace

load_result load_config_text(const std::string& text, const std::string& file_name, const probe_registry& registry,
                             load_options options) {
  diagnostics diags(file_name);
  auto cfg = std::make_shared<config>();
  cfg->file = file_name;
  try {
    YAML::Node root;
    if (!load_bounded_yaml(text, root, diags)) return finish_load(cfg, diags);
    substitute_secrets(root, diags);
    read_config(root, *cfg, diags, registry, options);
  } catch (const std::exception& e) {
    // A bug, not bad input; still never let a reload take the daemon down.
    diags.add(YAML::Mark::null_mark(), "", std::string("internal error while loading: ") + e.what());
  }
  return finish_load(cfg, diags);
}

std::string web_config_path(const config& cfg, const std::string& override) {
  if (!override.empty()) return override;
  const auto& file = cfg.server.web_config_file;
  if (file.empty() || file.front() == '/') return file;
  const auto slash = cfg.file.rfind('/');
  return slash == std::string::npos ? file : cfg.file.substr(0, slash + 1) + file;
}

load_result load_config_file(const std::string& path, const probe_registry& registry, load_options options) {
  std::string text;
  if (int err = read_text_file(path, text, max_config_bytes); err != 0) {
    load_result result;
    const std::string why = err == EFBIG ? "larger than " + format_bytes(max_config_bytes) : std::strerror(err);
    result.errors.push_back(
        config_error{.file = path, .line = 0, .column = 0, .path = "", .message = "cannot read config file: " + why});
    return result;
  }
  return load_config_text(text, path, registry, options);
}

}  // namespace vitals
