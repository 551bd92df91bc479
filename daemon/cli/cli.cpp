#include "daemon/cli/cli.hpp"

namespace vitals {

std::string usage_text() {
  return R"(vitalsd — runs health probes, exports Prometheus metrics, names the cause.

Usage:
  vitalsd [run] [-c FILE] [--web.config.file FILE]
                                          run the daemon
  vitalsd check [-c FILE] [--probe NAME]  run every probe (or one) once and print a table;
                                          exit 0 all ok, 1 some failed, 2 config error
  vitalsd validate [-c FILE] [--web.config.file FILE]
                                          check the config file (and web config) only;
                                          exit 0 ok, 2 errors
  vitalsd rules [-c FILE]                 print the active alert rules as a Prometheus rule file
  vitalsd incidents [-c FILE] [--since 24h] [--json] [--state PATH]
                                          print the incident log from the state store
  vitalsd init [--scan DIR]... [--http] [-o FILE [--force]]
                                          print a commented config for what runs on this host
  vitalsd --version                       print the version
  vitalsd --help                          print this help

Options:
  -c, --config FILE   config file (default /etc/vitals/vitals.yaml)
  --web.config.file FILE
                      with run and validate: TLS, client certificates, basic
                      auth and headers, in the exporter-toolkit web config
                      format (overrides server.web_config_file)
  --probe NAME        with check: run only this probe
  --since DURATION    with incidents: open, or resolved within it (default 24h; with --json
                      all that are kept, as GET /api/v1/incidents)
  --json              with incidents: print JSON, as GET /api/v1/incidents does
  --state PATH        with incidents: read this state database instead of state.path
  --scan DIR          with init: look for SQLite files under DIR (repeat for more)
  --http              with init: ask each listener for health paths and WebSocket upgrades
  -o FILE             with init: write FILE (refuses to overwrite it without --force)

Signals: SIGHUP reloads the config (an invalid file keeps the running one);
SIGTERM or SIGINT stop the daemon.
)";
}

command_line parse_command_line(const std::vector<std::string>& args) {
  command_line out;
  std::size_t i = 0;
  if (i < args.size() && !args[i].empty() && args[i][0] != '-') {
    const auto& verb = args[i++];
    if (verb == "run") out.cmd = command_line::command::run;
    else if (verb == "check") out.cmd = command_line::command::check;
    else if (verb == "validate") out.cmd = command_line::command::validate;
    else if (verb == "rules") out.cmd = command_line::command::rules;
    else if (verb == "incidents") out.cmd = command_line::command::incidents;
    else if (verb == "init") out.cmd = command_line::command::init;
    else if (verb == "help") out.cmd = command_line::command::help;
    else if (verb == "version") out.cmd = command_line::command::version;
    else {
      out.error = "unknown command \"" + verb + "\" (commands: run, check, validate, rules, incidents, init)";
      return out;
    }
  }
  for (; i < args.size(); ++i) {
    const auto& a = args[i];
    auto value = [&](const std::string& flag) -> std::optional<std::string> {
      if (auto eq = a.find('='); eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= args.size()) {
        out.error = flag + " needs a value";
        return std::nullopt;
      }
      return args[++i];
    };
    const std::string flag = a.substr(0, a.find('='));
    if (a == "-h" || a == "--help") {
      out.cmd = command_line::command::help;
    } else if (a == "-V" || a == "--version") {
      out.cmd = command_line::command::version;
    } else if (flag == "-c" || flag == "--config") {
      if (auto v = value(flag)) out.config_path = *v;
      else return out;
    } else if (flag == "--web.config.file") {
      if (out.cmd != command_line::command::run && out.cmd != command_line::command::validate) {
        out.error = "--web.config.file works only with run and validate";
        return out;
      }
      if (auto v = value(flag)) out.web_config_file = *v;
      else return out;
    } else if (flag == "--scan" || flag == "-o" || flag == "--output" || a == "--http" || a == "--force") {
      if (out.cmd != command_line::command::init) {
        out.error = flag + " works only with init";
        return out;
      }
      if (a == "--http" || a == "--force") {
        (a == "--http" ? out.http : out.force) = true;
        continue;
      }
      auto v = value(flag);
      if (!v) return out;
      if (flag == "--scan") out.scan_dirs.push_back(*v);
      else out.output = *v;
    } else if (flag == "--probe") {
      if (out.cmd != command_line::command::check) {
        out.error = "--probe works only with check";
        return out;
      }
      if (auto v = value(flag)) out.probe = *v;
      else return out;
    } else if (flag == "--since" || flag == "--state" || a == "--json") {
      if (out.cmd != command_line::command::incidents) {
        out.error = flag + " works only with incidents";
        return out;
      }
      if (a == "--json") {
        out.json = true;
        continue;
      }
      auto v = value(flag);
      if (!v) return out;
      (flag == "--since" ? out.since : out.state_path) = *v;
    } else {
      out.error = "unknown option \"" + a + "\"";
      return out;
    }
  }
  return out;
}

}  // namespace vitals
