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

// The newest `limit` (0: all) of the open and recently resolved incidents,
// oldest first, as the daemon's API counts them: an open one counts too.
std::vector<incident> newest(std::vector<incident> list, std::size_t limit) {
  if (limit == 0 || list.size() <= limit) return list;
  list.erase(list.begin(), list.end() - static_cast<std::ptrdiff_t>(limit));
  return list;
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

// The state database to read (--state, or the config's state.path) and the
// config's secrets; nullopt once the config's errors are printed.
std::optional<std::string> state_path_of(const incidents_options& options, redactor& secrets) {
  if (options.state_path) return *options.state_path;
  probe_registry registry;
  register_builtin_probes(registry);
  auto loaded = load_config_file(options.config_path, registry);  // only state.path is needed
  if (!loaded.cfg) {
    for (const auto& e : loaded.errors) std::cerr << e.str() << "\n";
    return std::nullopt;
  }
  secrets = loaded.cfg->secrets;
  return loaded.cfg->state.path;
}

}  // namespace

int run_incidents(const incidents_options& options) {
  redactor secrets;  // the config's, when one is read
  const auto state_path = state_path_of(options, secrets);
  if (!state_path) return 2;
  const std::string& path = *state_path;
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    std::cerr << "vitalsd: no state database at " << printable(secrets.redacted(path))
              << " (has vitalsd run with this config?)\n";
    return 1;
  }
  const std::chrono::milliseconds since =
      options.since.value_or(options.json ? std::chrono::milliseconds(incidents_json_since) : incidents_text_since);
  state_store store(path, state_store::mode::read_only);
  const auto stored = store.load_incidents(std::chrono::system_clock::now() - since,
                                           std::numeric_limits<std::size_t>::max());
  if (!stored) {
    std::cerr << "vitalsd: cannot read " << printable(secrets.redacted(path)) << ": "
              << printable(secrets.redacted(store.problem())) << "\n";
    return 1;
  }
  // Rows an earlier version stored may hold raw bytes: made valid UTF-8 here.
  auto list = valid_utf8_incidents(newest(*stored, options.json ? incidents_json_limit : 0));
  redact_incidents(list, secrets);
  if (options.json)
    std::cout << incidents_json(list) << "\n";
  else
    print_text(list, since);
  return 0;
}

}  // namespace vitals
