#include "daemon/cli/check_command.hpp"
#include "probes/core/units.hpp"

#include "daemon/app/config.hpp"
#include "daemon/app/logging.hpp"
#include "daemon/app/runtime.hpp"
#include "daemon/server/runbook_links.hpp"
#include "daemon/server/web_config.hpp"
#include "daemon/sched/scheduler.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace vitals {

namespace {

// Display width of UTF-8 text: counts code points, not bytes.
std::size_t width(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string pad(std::string s, std::size_t w) {
  const auto have = width(s);
  if (have < w) s.append(w - have, ' ');
  return s;
}

// Text a target or the host supplied, for the terminal: valid UTF-8, and
// control characters escaped so an answer cannot move the cursor or recolour
// the screen.
std::string shown(std::string_view text) { return printable(valid_utf8(text)); }

void print_errors(const std::vector<config_error>& errors) {
  for (const auto& e : errors) std::cerr << e.str() << "\n";
}

// The probe kinds, for commands that only read a config: no loop, no pool,
// no probe built.
probe_registry builtin_registry() {
  probe_registry registry;
  register_builtin_probes(registry);
  return registry;
}

}  // namespace

int run_validate(const std::string& config_path, const std::string& web_config_file) {
  auto loaded = load_config_file(config_path, builtin_registry());
  if (!loaded.cfg) {
    print_errors(loaded.errors);
    std::cerr << config_path << ": " << loaded.errors.size() << " error(s)\n";
    return 2;
  }
  std::cout << config_path << ": ok, " << loaded.cfg->probes.size() << " probes\n";
  // The web config is read and checked too; the certificates it names are
  // not loaded (validate opens nothing a run would build).
  const auto web = web_config_path(*loaded.cfg, web_config_file);
  if (web.empty()) return 0;
  const auto parsed = load_web_config(web);
  if (!parsed.config) {
    print_errors(parsed.errors);
    std::cerr << web << ": " << parsed.errors.size() << " error(s)\n";
    return 2;
  }
  std::cout << web << ": ok\n";
  return 0;
}

int run_rules(const std::string& config_path) {
  auto loaded = load_config_file(config_path, builtin_registry());
  if (!loaded.cfg) {
    print_errors(loaded.errors);
    return 2;
  }
  // Built-ins link the daemon's own runbook pages, as the running daemon's
  // alerts do: under server.external_url when set; else under the address
  // Prometheus scraped the series from, its `instance` label, which
  // Prometheus fills into the annotation for each alert.
  const auto& server = loaded.cfg->server;
  const std::string link_url =
      server.external_url.empty() ? std::string("http://{{ $labels.instance }}/") : server.external_url;
  const auto rules = with_runbook_links(loaded.cfg->alert_rules, link_url);
  // The rules were redacted when loaded; the whole text once more, as every output is.
  std::cout << "# Alert rules of " << config_path << ", as vitalsd evaluates them.\n"
            << loaded.cfg->secrets.redacted(alerts::prometheus_rule_file(rules));
  return 0;
}

int run_check(const check_options& options) {
  runtime rt;
  auto loaded = load_config_file(options.config_path, rt.registry, rt.ctx);
  if (!loaded.cfg) {
    print_errors(loaded.errors);
    return 2;
  }
  const redactor& secrets = loaded.cfg->secrets;
  set_log_secrets(secrets);
  std::vector<const probe_spec*> selected;
  for (const auto& spec : loaded.cfg->probes)
    if (!options.probe || spec.settings.name == *options.probe) selected.push_back(&spec);
  if (options.probe && selected.empty()) {
    std::cerr << printable(options.config_path) << ": no probe named \"" << printable(*options.probe) << "\"\n";
    return 2;
  }

  std::vector<std::optional<run_outcome>> outcomes(selected.size());
  std::size_t pending = selected.size();
  for (std::size_t i = 0; i < selected.size(); ++i) {
    asio::co_spawn(
        rt.io,
        [&, i]() -> asio::awaitable<void> {
          outcomes[i] = co_await run_with_deadline(*selected[i]->instance, selected[i]->settings.timeout);
          redact(outcomes[i]->result, secrets);
          --pending;
        },
        asio::detached);
  }
  // Until every run is in, not until the loop runs dry: a persistent
  // probe keeps its connection (and a reader on it) open.
  while (pending > 0) rt.io.run_one();

  const char* green = options.color ? "\033[32m" : "";
  const char* red = options.color ? "\033[31m" : "";
  const char* dim = options.color ? "\033[2m" : "";
  const char* reset = options.color ? "\033[0m" : "";

  std::size_t name_w = 5, kind_w = 4, target_w = 6;
  std::vector<std::string> targets;
  for (const auto* s : selected) {
    targets.push_back(shown(secrets.redacted(s->instance->target())));
    name_w = std::max(name_w, width(s->settings.name));
    kind_w = std::max(kind_w, width(s->settings.type));
    target_w = std::max(target_w, width(targets.back()));
  }
  std::ostringstream out;
  out << "  " << pad("PROBE", name_w) << "  " << pad("KIND", kind_w) << "  " << pad("TARGET", target_w) << "  "
      << pad("TIME", 9) << "  CAUSE\n";
  int failed = 0;
  for (std::size_t i = 0; i < selected.size(); ++i) {
    const auto& s = *selected[i];
    const auto& o = *outcomes[i];
    const bool ok = o.result.ok;
    failed += ok ? 0 : 1;
    out << (ok ? green : red) << (ok ? "✓" : "✗") << reset << " " << pad(s.settings.name, name_w) << "  "
        << pad(s.settings.type, kind_w) << "  " << pad(targets[i], target_w) << "  "
        << (ok ? format_seconds(o.duration_seconds) : pad(format_seconds(o.duration_seconds), 9) + "  ");
    if (!ok)
      out << red << shown(o.result.error) << reset << " " << dim << "[" << shown(o.result.reason) << "]" << reset;
    out << "\n";
    for (const auto& [k, v] : o.result.evidence)
      out << "    " << dim << shown(k) << ":" << reset << " " << shown(v) << "\n";
  }
  out << selected.size() - failed << " ok, " << failed << " failed\n";
  std::cout << out.str() << std::flush;
  return failed == 0 ? 0 : 1;
}

}  // namespace vitals
