#include "probes/port/port_probe.hpp"

#include "probes/net/host_addresses.hpp"
#include "probes/net/resolve.hpp"
#include "probes/port/port_list.hpp"
#include "probes/port/socket_owner_index.hpp"
#include "probes/port/tcp_connect.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace vitals {

namespace {

using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
using boost::system::error_code;

// Ports of one probe are connected concurrently, but with at most this many
// sockets open at once: a 1024-port range must not exhaust the daemon's fds.
constexpr std::size_t max_concurrent_connects = 128;

constexpr metric_info port_metrics[] = {
    {"vitals_port_open", "1 when a TCP connection to the port succeeded, else 0.", metric_kind::gauge},
    {"vitals_port_owner_info",
     "Always 1; labels name a process holding the listening socket of an open local port.", metric_kind::gauge},
    {"vitals_port_conflict",
     "1 when the port is held by a process other than expect_process, or is open while expected closed.",
     metric_kind::gauge},
};

// Could a socket listening on `listener` have accepted our connection to `target`?
bool listener_accepts(const port_listener& listener, const asio::ip::address& target) {
  const auto bound = parse_ip(listener.address);
  if (!bound) return false;
  const auto a = unmapped(*bound);
  const auto t = unmapped(target);
  if (t.is_unspecified()) return true;  // connecting to 0.0.0.0 reaches any local listener
  // "::" may be dual-stack (IPV6_V6ONLY is not visible in /proc): count it for both.
  if (a.is_unspecified()) return a.is_v6() || t.is_v4();
  return same_address(a, t);
}

std::string listen_text(const port_listener& l) {
  const auto a = parse_ip(l.address);
  const bool v6 = a && a->is_v6();
  return (v6 ? "[" + l.address + "]" : l.address) + ":" + std::to_string(l.port);
}

std::string owner_text(const socket_owner& o) {
  return o.process + " (pid " + std::to_string(o.pid) + ", user " + o.user + ")";
}

std::string owner_short(const socket_owner& o) {
  return o.process + " (pid " + std::to_string(o.pid) + ")";
}

// ---------------------------------------------------------------------------
// Connecting.

struct port_outcome {
  std::uint16_t port = 0;
  bool open = false;
  error_code error;        // the first connect error, when not open
  tcp::endpoint endpoint;  // the endpoint that accepted, when open
};

// Tries each address until one accepts. The socket is closed on return
// (RAII): we only want to know whether it was accepted.
asio::awaitable<void> connect_one(const std::vector<tcp::endpoint>& endpoints, port_outcome& outcome) {
  for (auto endpoint : endpoints) {
    endpoint.port(outcome.port);
    // No coroutine frame for the usual case, a local port that answered at once.
    port_connect attempt(endpoint);
    const auto ec = attempt.answer() ? *attempt.answer() : co_await attempt.finish();
    if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec, "connect");
    if (!ec) {
      outcome.open = true;
      outcome.endpoint = endpoint;
      outcome.error.clear();
      co_return;
    }
    if (!outcome.error) outcome.error = ec;
  }
}

// Shared by the workers of one connect_all(); lives in its frame.
struct connect_job {
  const std::vector<tcp::endpoint>& endpoints;
  std::vector<port_outcome>& outcomes;
  std::size_t next = 0;  // next port to take; the loop is single-threaded
};

asio::awaitable<void> connect_worker(connect_job& job) {
  while (job.next < job.outcomes.size()) {
    auto& outcome = job.outcomes[job.next++];
    co_await connect_one(job.endpoints, outcome);
  }
}

// Connects every port, up to max_concurrent_connects at once. Cancelling the
// caller cancels every pending connect (the parallel group forwards it).
asio::awaitable<void> connect_all(const std::vector<tcp::endpoint>& endpoints, std::vector<port_outcome>& outcomes) {
  connect_job job{endpoints, outcomes};
  const std::size_t workers = std::min(outcomes.size(), max_concurrent_connects);
  if (workers <= 1) {
    co_await connect_worker(job);
    co_return;
  }
  auto ex = co_await asio::this_coro::executor;
  using op = decltype(asio::co_spawn(ex, connect_worker(job), asio::deferred));
  std::vector<op> ops;
  ops.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) ops.push_back(asio::co_spawn(ex, connect_worker(job), asio::deferred));
  auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(ops))
                             .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// ---------------------------------------------------------------------------
// Judging.

struct connect_failure {
  std::string reason;
  std::string state;  // "closed", "unreachable", ...
  std::string cause;  // "connection refused"
};

connect_failure describe(const error_code& ec) {
  if (ec.category() == boost::system::system_category()) {
    switch (ec.value()) {
      case ECONNREFUSED: return {"refused", "closed", "connection refused"};
      case ENETUNREACH: return {"unreachable", "unreachable", "network unreachable"};
      case EHOSTUNREACH: return {"unreachable", "unreachable", "no route to host"};
      case ENETDOWN: return {"unreachable", "unreachable", "network down"};
      case EHOSTDOWN: return {"unreachable", "unreachable", "host down"};
      case ETIMEDOUT: return {"timeout", "not answering", "connection timed out"};
      default: break;
    }
  }
  return {"error", "connect failed", ec.message()};
}

// What went wrong with one port; empty reason: as expected.
struct port_finding {
  std::string reason;
  std::string problem;  // follows "port 3001 ": "closed (connection refused)"
};

// Listeners of one open local port that could have accepted our connection,
// split into those with a known owner (one entry per pid) and hidden ones.
struct port_owners {
  std::vector<std::pair<const socket_owner*, std::vector<const port_listener*>>> owners;
  std::vector<const port_listener*> hidden;
  bool listener_found = false;
};

port_owners owners_of(const owner_snapshot& snap, const port_outcome& outcome) {
  port_owners result;
  for (const port_listener* l : snap.find(outcome.port)) {
    if (!listener_accepts(*l, outcome.endpoint.address())) continue;
    result.listener_found = true;
    if (!l->owner) {
      result.hidden.push_back(l);
      continue;
    }
    auto it = std::find_if(result.owners.begin(), result.owners.end(),
                           [&](const auto& entry) { return entry.first->pid == l->owner->pid; });
    if (it == result.owners.end())
      result.owners.emplace_back(&*l->owner, std::vector<const port_listener*>{l});
    else
      it->second.push_back(l);
  }
  return result;
}

// Whether the snapshot holds a listening socket that took this connection:
// owners_of's answer to that without building its lists.
bool listener_seen(const owner_snapshot& snap, const port_outcome& outcome) {
  return std::any_of(snap.listeners.begin(), snap.listeners.end(), [&](const port_listener& l) {
    return l.port == outcome.port && listener_accepts(l, outcome.endpoint.address());
  });
}

std::string unknown_owner_text(const owner_snapshot& snap) {
  return snap.permission_denied ? "unknown (permission denied)" : "unknown";
}

// "ports 3005-3006, 3009 closed (connection refused); port 3010 owned by ..."
std::string compose_error(const std::vector<std::pair<std::uint16_t, port_finding>>& failures) {
  constexpr std::size_t max_groups = 4;  // keep the one line readable
  std::vector<std::pair<std::string, std::vector<std::uint16_t>>> groups;
  for (const auto& [port, finding] : failures) {
    auto it = std::find_if(groups.begin(), groups.end(), [&problem = finding.problem](auto& g) { return g.first == problem; });
    if (it == groups.end())
      groups.emplace_back(finding.problem, std::vector<std::uint16_t>{port});
    else
      it->second.push_back(port);
  }
  std::string text;
  std::size_t more = 0;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const auto& [problem, ports] = groups[i];
    if (i >= max_groups) {
      more += ports.size();
      continue;
    }
    if (!text.empty()) text += "; ";
    text += (ports.size() == 1 ? "port " : "ports ") + format_port_list_readable(ports) + " " + problem;
  }
  if (more > 0) text += "; " + std::to_string(more) + (more == 1 ? " more port failed" : " more ports failed");
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------

port_probe::port_probe(settings s, const probe_context& ctx) : settings_(std::move(s)), ctx_(&ctx) {
  if (const auto problem = normalize_port_list(settings_.ports))
    throw std::invalid_argument("port_probe: port list " + *problem);
  host_ = strip_brackets(settings_.host);
  literal_ = parse_ip(host_);
  host_addresses_ = shared_interface_addresses();
  local_ = literal_ && is_local(*literal_);
}

std::span<const metric_info> port_probe::metrics() { return port_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert port_alerts[] = {
    {"PortConflict", "last_over_time(vitals_port_conflict[{hold}]) == 1", builtin_alert::no_threshold, 0ms, "critical",
     "port {{ $labels.port }} is held by the wrong process",
     "Port {{ $labels.port }} (probe {{ $labels.probe }}) is owned by another process than the expected one."},
};

}  // namespace

std::span<const builtin_alert> port_probe::alerts() { return port_alerts; }

std::string port_probe::target() const {
  const std::string host = literal_ && literal_->is_v6() ? "[" + host_ + "]" : host_;
  return host + ":" + format_port_list(settings_.ports);
}

bool port_probe::is_local(const asio::ip::address& a) const { return is_host_address(a, *host_addresses_); }

asio::awaitable<probe_result> port_probe::run() {
  const auto& ports = settings_.ports;
  std::vector<port_outcome> outcomes(ports.size());
  for (std::size_t i = 0; i < ports.size(); ++i) outcomes[i].port = ports[i];

  std::vector<tcp::endpoint> endpoints;
  if (literal_) {
    endpoints.emplace_back(*literal_, 0);
  } else {
    const auto r = co_await resolve_host(host_);
    if (r.error || r.addresses.empty()) {
      auto result = probe_result::failure(
          "resolve", "cannot resolve " + host_ + ": " + (r.error ? r.error.message() : "no address"));
      // Nothing could be reached: every port reads as not open.
      for (auto p : ports) {
        result.samples.push_back({"vitals_port_open", {{"port", std::to_string(p)}}, 0});
        result.samples.push_back({"vitals_port_conflict", {{"port", std::to_string(p)}}, 0});
      }
      co_return result;
    }
    for (const auto& a : r.addresses) endpoints.emplace_back(a, 0);
  }

  co_await connect_all(endpoints, outcomes);
  const auto connected_at = clock::now();

  // Owners only for open ports on this host, and from one shared scan.
  auto wants_owner = [&](const port_outcome& o) { return o.open && is_local(o.endpoint.address()); };
  std::shared_ptr<const owner_snapshot> snapshot;
  if (std::any_of(outcomes.begin(), outcomes.end(), wants_owner)) {
    auto& index = asio::use_service<socket_owner_index>(ctx_->io);
    snapshot = co_await index.async_snapshot(ctx_->pool);
    // A listener younger than the cached snapshot is missing from it; one
    // fresh scan (shared with anyone else who needs it) finds it.
    const bool missing = std::any_of(outcomes.begin(), outcomes.end(), [&](const port_outcome& o) {
      return wants_owner(o) && !listener_seen(*snapshot, o);
    });
    if (missing && snapshot->taken_at < connected_at)
      snapshot = co_await index.async_snapshot(ctx_->pool, connected_at);
  }

  // What follows does not wait, so it runs as a plain function: GCC keeps
  // every local of a coroutine in its frame, and a frame over 1 KiB misses
  // malloc's per-thread cache on every run.
  co_return [&] {
    probe_result result = probe_result::success();
    std::vector<std::pair<std::uint16_t, port_finding>> failures;
    const bool single = ports.size() == 1;

    for (const auto& o : outcomes) {
      const std::string port = std::to_string(o.port);
      const std::string key_prefix = single ? "" : "port " + port + " ";
      result.samples.push_back({"vitals_port_open", {{"port", port}}, o.open ? 1.0 : 0.0});

      port_owners owners;
      const bool looked_up = snapshot && wants_owner(o);
      if (looked_up) {
        owners = owners_of(*snapshot, o);
        for (const auto& [owner, listeners] : owners.owners) {
          result.samples.push_back({"vitals_port_owner_info",
                                    {{"port", port},
                                     {"pid", std::to_string(owner->pid)},
                                     {"process", owner->process},
                                     {"user", owner->user}},
                                    1});
          std::string listen;
          for (const auto* l : listeners) listen += (listen.empty() ? "" : ", ") + listen_text(*l);
          result.evidence.emplace_back(key_prefix + "owner", owner_text(*owner));
          result.evidence.emplace_back(key_prefix + "cmdline", owner->cmdline);
          result.evidence.emplace_back(key_prefix + "listen", listen);
        }
        for (const auto* l : owners.hidden) {
          result.evidence.emplace_back(key_prefix + "owner", unknown_owner_text(*snapshot));
          result.evidence.emplace_back(key_prefix + "socket_user",
                                       l->socket_user + " (uid " + std::to_string(l->socket_uid) + ")");
          result.evidence.emplace_back(key_prefix + "listen", listen_text(*l));
        }
        if (!owners.listener_found)
          result.evidence.emplace_back(key_prefix + "owner", "unknown (no listening socket found on this host)");
      }

      // Why the owner is not known, for error texts.
      auto unknown_because = [&]() -> std::string {
        if (!looked_up) return o.endpoint.address().to_string() + " is not an address of this host";
        if (!owners.listener_found) return "no listening socket found on this host";
        if (snapshot->permission_denied) return "permission denied reading other processes' sockets";
        return "no visible process holds its listening socket";
      };

      port_finding finding;
      bool conflict = false;
      if (settings_.expect_open) {
        if (!o.open) {
          const auto f = describe(o.error);
          finding = {f.reason, f.state + " (" + f.cause + ")"};
        } else if (!settings_.expect_process.empty()) {
          auto foreign = std::find_if(owners.owners.begin(), owners.owners.end(), [&](const auto& entry) {
            return !entry.first->is_named(settings_.expect_process);
          });
          if (foreign != owners.owners.end()) {
            conflict = true;
            finding = {"conflict",
                       "owned by " + owner_short(*foreign->first) + ", expected " + settings_.expect_process};
          } else if (owners.owners.empty()) {
            finding = {"owner_unknown",
                       "owner unknown (" + unknown_because() + "), expected " + settings_.expect_process};
          }
        }
      } else {
        if (o.open) {
          conflict = true;
          finding.reason = "in_use";
          if (!owners.owners.empty())
            finding.problem = "is in use by " + owner_short(*owners.owners.front().first);
          else if (looked_up)
            finding.problem = "is in use (owner unknown: " + unknown_because() + ")";
          else
            finding.problem = "is in use";
        } else if (describe(o.error).reason != "refused") {
          // Not refused: we cannot tell whether something listens there.
          const auto f = describe(o.error);
          finding = {f.reason, "could not be checked (" + f.cause + ")"};
        }
      }
      result.samples.push_back({"vitals_port_conflict", {{"port", port}}, conflict ? 1.0 : 0.0});
      if (!finding.reason.empty()) failures.emplace_back(o.port, std::move(finding));
    }

    if (!literal_) {
      std::string addresses;
      for (const auto& e : endpoints) addresses += (addresses.empty() ? "" : ", ") + e.address().to_string();
      result.evidence.emplace_back("resolved", host_ + " -> " + addresses);
    }
    if (!failures.empty()) {
      result.ok = false;
      result.reason = failures.front().second.reason;
      result.error = compose_error(failures);
    }
    return result;
  }();
}

}  // namespace vitals
