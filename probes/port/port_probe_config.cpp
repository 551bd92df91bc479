// `type: port` settings: what create() reads and checks (docs/probes/port.md).
#include "probes/port/port_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/net/host_addresses.hpp"
#include "probes/port/port_list.hpp"

#include <algorithm>
#include <optional>
#include <string>

namespace vitals {

namespace {

// Why `host` is not usable; nullopt when it is.
std::optional<std::string> host_problem(std::string_view host) {
  if (host.empty()) return "is empty; expected an IP address or a host name";
  if (parse_ip(strip_brackets(host))) return std::nullopt;
  if (host.front() == '[') return "is not a valid IPv6 address";
  if (host.find(':') != std::string_view::npos)
    return "is not a valid address (put the port in port: or ports:, IPv6 like ::1 or [::1])";
  if (!is_host_name(host)) return "is not a valid host name or IP address";
  return std::nullopt;
}

// `ports:` as one string ("3001,3005-3010") or a YAML list whose items are
// ports or ranges ([3001, "3005-3010"]).
void read_ports(node_reader& r, std::vector<std::uint16_t>& ports) {
  if (!r.node()["ports"].IsSequence()) {
    if (std::string text; r.read("ports", text)) {
      const auto parsed = parse_port_list(text);
      if (!parsed.error.empty())
        r.error("ports", r.is_secret("ports") ? r.shown("ports") + " is not a valid port list" : parsed.error);
      else
        ports = parsed.ports;
    }
    return;
  }
  auto items = *r.sequence("ports");
  for (auto& item : items) {
    if (!item.node().IsScalar()) {
      item.error_here("expected a port number");
      continue;
    }
    const auto parsed = parse_port_list(item.node().Scalar());
    if (!parsed.error.empty()) {
      item.error_here(item.diags().is_secret(item.node().Mark()) ? "<redacted> is not a valid port" : parsed.error);
      continue;
    }
    ports.insert(ports.end(), parsed.ports.begin(), parsed.ports.end());
  }
  const bool items_read = std::none_of(items.begin(), items.end(), [](const node_reader& i) { return i.failed(); });
  if (const auto problem = items_read ? normalize_port_list(ports) : std::nullopt)
    r.error("ports", "the list " + *problem);
}

}  // namespace

probe_builder port_probe::create(const probe_settings&, node_reader& r) {
  settings s;
  r.read("host", s.host, [](const std::string& host, const std::string& shown) {
    const auto problem = host_problem(host);
    return problem ? std::optional<std::string>(shown + " " + *problem) : std::nullopt;
  });

  const bool has_port = r.has("port");
  const bool has_ports = r.has("ports");
  if (has_port && has_ports) {
    r.error("ports", "set either port or ports, not both");
  } else if (!has_port && !has_ports) {
    r.error_here("one of port or ports is required");
  } else if (has_port) {
    // Any whole number here so the message below, not the reader's, explains it.
    std::int64_t port = 0;
    if (r.read("port", port, [&](std::int64_t n, const std::string& shown) {
          if (n >= 1 && n <= 65535) return std::string();
          return (r.is_secret("port") ? shown : std::to_string(n)) + " is not a valid port (1-65535)";
        }))
      s.ports.push_back(static_cast<std::uint16_t>(port));
  } else {
    read_ports(r, s.ports);
  }

  r.read("expect", s.expect_open, {{"open", true}, {"closed", false}});
  r.read("expect_process", s.expect_process, [&](const std::string& name) {
    if (name.empty()) return "is empty; expected a process name like node";
    if (!s.expect_open) return "does not apply with expect: closed (nothing may own the port)";
    return "";
  });

  if (r.failed()) return {};
  // Owners are looked up on this machine: an address of another one never has one.
  if (!s.expect_process.empty()) {
    const std::string host = strip_brackets(s.host);
    if (const auto ip = parse_ip(host); ip && !is_host_address(*ip, interface_addresses())) {
      r.error("expect_process", "needs a host on this machine to find the owner; " + host +
                                    " is not one of its addresses");
      return {};
    }
  }
  return [s = std::move(s)](const probe_context& ctx) { return std::make_unique<port_probe>(s, ctx); };
}

}  // namespace vitals
