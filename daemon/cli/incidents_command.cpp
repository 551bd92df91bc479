#include "daemon/cli/incidents_command.hpp"

#include "daemon/app/config.hpp"
#include "daemon/server/status_views.hpp"
#include "daemon/state/state_keeper.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/time_format.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/json.hpp>

#include <iostream>
#include <limits>
#include <sys/stat.h>

namespace vitals {

namespace {

// Labels, summaries and evidence quote targets: shown through printable(), a
// newline or an escape sequence in them cannot rewrite the reader's terminal.
void print_text(const std::vector<incident>& list, std::chrono::milliseconds since) {
  if (list.empty()) {
    std::cout << "no incidents in the last " << short_duration(since) << "\n";
    return;
  }
  const auto now = std::chrono::system_clock::now();
  for (const auto& i : list) {
    std::string where;
    for (const auto& [k, v] : i.labels) where += (where.empty() ? "" : " ") + printable(k) + "=" + printable(v);
    std::cout << "#" << i.id << "  " << (i.resolved ? "resolved" : "FIRING  ") << "  " << i.severity << "  "
              << i.alertname << "  " << where << "\n"
              << "    started " << rfc3339(i.started);
    if (i.resolved)
      std::cout << ", resolved " << rfc3339(*i.resolved) << " after " << short_duration(*i.resolved - i.started);
    else
      std::cout << ", firing for " << short_duration(now - i.started);
    std::cout << "\n";
    if (!i.summary.empty()) std::cout << "    " << printable(i.summary) << "\n";
    boost::system::error_code ec;
    const auto ev = boost::json::parse(i.evidence_json, ec);
    if (!ec && ev.is_object()) {
      const auto& o = ev.as_object();
      if (const auto* cause = o.if_contains("cause"); cause && cause->is_string() && !cause->as_string().empty())
        std::cout << "    cause: " << printable(cause->as_string()) << "\n";
      if (const auto* items = o.if_contains("evidence"); items && items->is_object())
        for (const auto& [k, v] : items->as_object())
          std::cout << "    " << printable(k) << ": " << (v.is_string() ? printable(v.as_string()) : "") << "\n";
    }
    if (!i.runbook_url.empty()) std::cout << "    runbook: " << i.runbook_url << "\n";
  }
}

// Rows are written redacted by the daemon; a row written before a secret
// was one (or by an older version) is redacted here on its way out.
void redact_incidents(std::vector<incident>& list, const redactor& secrets) {
  if (secrets.empty()) return;
  for (auto& i : list) {
    for (auto* text : {&i.alertname, &i.severity, &i.summary, &i.runbook_url, &i.evidence_json}) secrets.redact(*text);
    for (auto& [k, v] : i.labels) secrets.redact(v);
  }
}

}  // namespace

int run_incidents(const incidents_options& options) {
  std::string path;
  redactor secrets;  // the config's, when one is read
  if (options.state_path) {
    path = *options.state_path;
  } else {
    probe_registry registry;
    register_builtin_probes(registry);
    auto loaded = load_config_file(options.config_path, registry);  // only state.path is needed
    if (!loaded.cfg) {
      for (const auto& e : loaded.errors) std::cerr << e.str() << "\n";
      return 2;
    }
    path = loaded.cfg->state.path;
    secrets = loaded.cfg->secrets;
  }
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    std::cerr << "vitalsd: no state database at " << printable(secrets.redacted(path))
              << " (has vitalsd run with this config?)\n";
    return 1;
  }
  state_store store(path, state_store::mode::read_only);
  const auto stored = store.load_incidents(std::chrono::system_clock::now() - options.since,
                                           std::numeric_limits<std::size_t>::max());
  if (!stored) {
    std::cerr << "vitalsd: cannot read " << printable(secrets.redacted(path)) << ": "
              << printable(secrets.redacted(store.problem())) << "\n";
    return 1;
  }
  auto list = valid_utf8_incidents(*stored);  // rows an earlier version stored with raw bytes
  redact_incidents(list, secrets);
  if (options.json)
    std::cout << incidents_json(list) << "\n";
  else
    print_text(list, options.since);
  return 0;
}

}  // namespace vitals
