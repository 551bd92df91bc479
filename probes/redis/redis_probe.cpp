#include "probes/redis/redis_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/pool_call.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/units.hpp"
#include "probes/net/host_addresses.hpp"
#include "probes/net/resolve.hpp"
#include "probes/redis/hiredis_asio.hpp"
#include "probes/redis/info_parser.hpp"
#include "probes/redis/memory_limit.hpp"
#include "probes/redis/redis_address.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <hiredis/read.h>

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace vitals {

namespace {

using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr metric_info redis_metrics[] = {
    {"vitals_redis_used_memory_bytes", "Bytes allocated by Redis (INFO used_memory).", metric_kind::gauge},
    {"vitals_redis_maxmemory_bytes", "The maxmemory setting in bytes; 0 when unlimited.", metric_kind::gauge},
    {"vitals_redis_memory_utilization_ratio",
     "Memory use relative to the limit named by the limit label: used_memory/maxmemory, or for a local server "
     "without maxmemory used_memory_rss/its cgroup memory limit or host memory.",
     metric_kind::gauge},
    {"vitals_redis_info", "Always 1; labels carry the server version and maxmemory_policy.", metric_kind::gauge},
    {"vitals_redis_mem_fragmentation_ratio", "INFO mem_fragmentation_ratio (rss / used memory).", metric_kind::gauge},
    {"vitals_redis_evicted_keys_total", "Keys evicted because of maxmemory since the server started.",
     metric_kind::counter},
    {"vitals_redis_connected_clients", "Client connections open on the server, this probe's included.",
     metric_kind::gauge},
    {"vitals_redis_rejected_connections_total", "Connections rejected because of maxclients since the server started.",
     metric_kind::counter},
    {"vitals_redis_keyspace_hit_ratio", "keyspace_hits / (keyspace_hits + keyspace_misses) since the server started.",
     metric_kind::gauge},
    {"vitals_redis_ping_seconds", "Round trip of one PING on an established connection.", metric_kind::gauge},
};

constexpr std::size_t memory_doctor_chars = 500;
constexpr std::size_t errorstats_shown = 5;

// Newlines and runs of blanks to one space, cut to `limit` characters.
std::string one_line(std::string_view text, std::size_t limit) {
  std::string out;
  bool blank = false;
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\t' || c == ' ') {
      blank = !out.empty();
      continue;
    }
    if (blank) out += ' ';
    blank = false;
    out += c;
    if (out.size() >= limit) {
      out += "…";
      break;
    }
  }
  return out;
}

std::string percent(double ratio) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, ratio < 0.1 ? "%.1f%%" : "%.0f%%", ratio * 100);
  return buffer;
}

std::string fixed(double value, int digits) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

// ---------------------------------------------------------------------------
// Classifying failures.

struct failure_class {
  std::string reason;
  std::string error;
};

// A connection-level error from hiredis. `during` names the step ("PING").
failure_class classify_link(const redis_link_error& e, std::string_view during) {
  const std::string& t = e.text;
  const auto has = [&](std::string_view s) { return t.find(s) != std::string::npos; };
  const std::string suffix = during.empty() ? "" : " during " + std::string(during);
  switch (e.code) {
    case REDIS_ERR_EOF: return {"closed", "connection closed by the server" + suffix};
    case REDIS_ERR_PROTOCOL: return {"protocol", "protocol error" + suffix + ": " + one_line(t, 200)};
    case REDIS_ERR_IO:
      if (e.errno_value == ECONNREFUSED || has("Connection refused")) return {"refused", "connection refused"};
      if (e.errno_value == ENOENT || has("No such file")) return {"refused", "connection refused (no such socket)"};
      if (e.errno_value == ECONNRESET || has("reset by peer") || has("Broken pipe"))
        return {"closed", "connection reset by the server" + suffix};
      if (e.errno_value == ENETUNREACH || e.errno_value == EHOSTUNREACH || has("unreachable") ||
          has("No route to host"))
        return {"unreachable", one_line(t, 200)};
      if (e.errno_value == EACCES || has("Permission denied"))
        return {"refused", "connection refused (permission denied)"};
      break;
    default: break;
  }
  return {"error", (t.empty() ? std::string("connection failed") : one_line(t, 200)) + suffix};
}

}  // namespace

namespace {

// What a run learnt besides INFO.
struct run_facts {
  double ping_seconds = 0;
  bool local = false;         // the server runs on this host
  memory_limit limit;         // for a local server without maxmemory
  std::string memory_doctor;  // MEMORY DOCTOR's text
  std::string memory_doctor_problem;
  std::string resolved;       // "cache.lan -> 10.0.0.5", for names
};

// Samples and evidence of a healthy run. Pure.
probe_result summarize(const redis_info& info, const run_facts& facts) {
  probe_result result = probe_result::success();
  auto& s = result.samples;

  const double used = info.number("used_memory").value_or(0);
  const double rss = info.number("used_memory_rss").value_or(used);
  const double maxmemory = info.number("maxmemory").value_or(0);
  const std::string version = info.find("redis_version") ? *info.find("redis_version") : "unknown";
  const std::string policy = info.find("maxmemory_policy") ? *info.find("maxmemory_policy") : "unknown";

  s.push_back({"vitals_redis_used_memory_bytes", {}, used});
  s.push_back({"vitals_redis_maxmemory_bytes", {}, maxmemory});

  // The ratio's limit: maxmemory when set; else, for a server on this host,
  // its cgroup's memory limit or this host's memory (against RSS: that is
  // what the kernel's OOM killer counts); else no ratio.
  std::string memory_text = format_bytes(used);
  if (maxmemory > 0) {
    const double ratio = used / maxmemory;
    s.push_back({"vitals_redis_memory_utilization_ratio", {{"limit", "maxmemory"}}, ratio});
    memory_text += " of " + format_bytes(maxmemory) + " maxmemory (" + percent(ratio) + ")";
  } else if (facts.local) {
    const auto& limit = facts.limit;
    if (limit.bytes > 0) {
      const double ratio = rss / limit.bytes;
      s.push_back({"vitals_redis_memory_utilization_ratio", {{"limit", limit.source}}, ratio});
      memory_text += " (no maxmemory); rss " + format_bytes(rss) + " of " + format_bytes(limit.bytes) + " " +
                     (limit.source == "cgroup" ? "cgroup limit" : "host memory") + " (" + percent(ratio) + ")";
    } else {
      memory_text += " (no maxmemory)";
    }
  } else {
    memory_text += " (no maxmemory; remote server, no other limit known)";
  }

  s.push_back({"vitals_redis_info", {{"version", version}, {"maxmemory_policy", policy}}, 1});
  if (auto v = info.number("mem_fragmentation_ratio")) s.push_back({"vitals_redis_mem_fragmentation_ratio", {}, *v});
  const double evicted = info.number("evicted_keys").value_or(0);
  s.push_back({"vitals_redis_evicted_keys_total", {}, evicted});
  if (auto v = info.number("connected_clients")) s.push_back({"vitals_redis_connected_clients", {}, *v});
  if (auto v = info.number("rejected_connections")) s.push_back({"vitals_redis_rejected_connections_total", {}, *v});
  const double hits = info.number("keyspace_hits").value_or(0);
  const double misses = info.number("keyspace_misses").value_or(0);
  if (hits + misses > 0) s.push_back({"vitals_redis_keyspace_hit_ratio", {}, hits / (hits + misses)});
  s.push_back({"vitals_redis_ping_seconds", {}, facts.ping_seconds});

  // --- evidence: what `redis-cli INFO memory` and MEMORY DOCTOR would show --
  auto& e = result.evidence;
  e.emplace_back("memory", memory_text);
  if (auto peak = info.number("used_memory_peak")) e.emplace_back("peak_memory", format_bytes(*peak));
  e.emplace_back("maxmemory_policy", policy);
  if (auto frag = info.number("mem_fragmentation_ratio"))
    e.emplace_back("fragmentation", fixed(*frag, 2) + " (rss " + format_bytes(rss) + ")");
  e.emplace_back("evicted_keys", fixed(evicted, 0));
  if (!info.errorstats.empty()) {
    std::string stats;
    for (std::size_t i = 0; i < info.errorstats.size() && i < errorstats_shown; ++i)
      stats += (i ? ", " : "") + info.errorstats[i].error + "=" + std::to_string(info.errorstats[i].count);
    e.emplace_back("errorstats", stats);
  }
  if (!facts.memory_doctor.empty())
    e.emplace_back("memory_doctor", one_line(facts.memory_doctor, memory_doctor_chars));
  else if (!facts.memory_doctor_problem.empty())
    e.emplace_back("memory_doctor", facts.memory_doctor_problem);
  e.emplace_back("version", version);
  if (!facts.resolved.empty()) e.emplace_back("resolved", facts.resolved);
  return result;
}

}  // namespace

// ---------------------------------------------------------------------------

redis_probe::redis_probe(settings s, const probe_context& ctx) : settings_(std::move(s)), ctx_(&ctx) {
  if (settings_.unix_path.empty()) {
    literal_ = parse_ip(settings_.host);
    if (!literal_ && !is_host_name(settings_.host)) throw std::invalid_argument("redis_probe: invalid host");
  }
  if (settings_.port == 0) throw std::invalid_argument("redis_probe: port 0");
  host_addresses_ = interface_addresses();
}

std::span<const metric_info> redis_probe::metrics() { return redis_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert redis_alerts[] = {
    {"RedisMemoryHigh", "vitals_redis_memory_utilization_ratio > {}", 0.9, 2min, "high",
     "Redis {{ $labels.probe }} uses {{ $value | humanizePercentage }} of its {{ $labels.limit }} limit",
     "Redis {{ $labels.probe }} is close to its memory limit ({{ $labels.limit }})."},
    {"RedisEvicting",
     "vitals_redis_evicted_keys_total > 0 and on(instance, probe) vitals_redis_memory_utilization_ratio{limit=\"maxmemory\"} > {}",
     0.95, 5min, "medium", "Redis {{ $labels.probe }} is evicting keys",
     "Redis {{ $labels.probe }} is at maxmemory and has evicted {{ $value }} keys since it started."},
};

}  // namespace

std::span<const builtin_alert> redis_probe::alerts() { return redis_alerts; }

std::string redis_probe::target() const {
  std::string t;
  if (!settings_.unix_path.empty())
    t = "unix:" + settings_.unix_path;
  else
    t = (literal_ && literal_->is_v6() ? "[" + settings_.host + "]" : settings_.host) + ":" +
        std::to_string(settings_.port);
  if (settings_.db) t += " db " + std::to_string(*settings_.db);
  return t;
}

bool redis_probe::is_local(const asio::ip::address& a) const { return is_host_address(a, host_addresses_); }

std::string redis_probe::scrub(std::string_view text) const {
  std::string out = one_line(text, 300);
  if (!settings_.password.empty())
    for (auto at = out.find(settings_.password); at != std::string::npos; at = out.find(settings_.password))
      out.replace(at, settings_.password.size(), "<redacted>");
  return out;
}

namespace {

// "integer 42", "status OK": for protocol errors.
std::string describe_reply(const redis_reply& r) {
  switch (r.type) {
    case redis_reply::kind::string: return "bulk string";
    case redis_reply::kind::array: return "array of " + std::to_string(r.elements.size());
    case redis_reply::kind::integer: return "integer " + std::to_string(r.integer);
    case redis_reply::kind::nil: return "nil";
    case redis_reply::kind::status: return "status " + one_line(r.text, 60);
    case redis_reply::kind::error: return "error " + one_line(r.text, 60);
  }
  return "unknown";
}

// A server error reply to `command`, classified. `text` is already scrubbed.
failure_class classify_reply_error(std::string_view command, const std::string& text) {
  const auto starts = [&](std::string_view p) { return text.rfind(p, 0) == 0; };
  const auto has = [&](std::string_view s) { return text.find(s) != std::string::npos; };
  const std::string said = std::string(command) + " failed: " + text;
  if (starts("NOAUTH")) return {"auth", "authentication required (no password configured): " + text};
  if (starts("WRONGPASS") || has("invalid password") || has("invalid username-password"))
    return {"auth", "authentication failed: " + text};
  if (starts("ERR AUTH") || has("without any password configured") || has("no password is set"))
    return {"auth", "authentication failed (the server has no password set): " + text};
  if (starts("NOPERM")) return {"auth", "permission denied for " + std::string(command) + ": " + text};
  if (starts("LOADING")) return {"loading", "server is loading its dataset: " + text};
  if (starts("BUSY")) return {"busy", "server is busy running a script: " + text};
  if (starts("OOM")) return {"oom", said};
  return {"error", said};
}

}  // namespace

asio::awaitable<probe_result> redis_probe::run() {
  auto ex = co_await asio::this_coro::executor;
  auto describe = [this](const redis_reply& r) { return scrub(describe_reply(r)); };

  // --- where to connect ----------------------------------------------------
  std::vector<asio::ip::address> addresses;
  std::string resolved_note;
  if (settings_.unix_path.empty()) {
    if (literal_) {
      addresses.push_back(*literal_);
    } else {
      const auto r = co_await resolve_host(settings_.host);
      if (r.error || r.addresses.empty())
        co_return probe_result::failure("resolve", "cannot resolve " + settings_.host + ": " +
                                                       (r.error ? r.error.message() : "no address"));
      addresses = r.addresses;
      for (const auto& a : addresses) resolved_note += (resolved_note.empty() ? "" : ", ") + a.to_string();
    }
  }

  // --- one connection, freed (redisAsyncFree) when this scope ends, also on
  // cancellation: hiredis then closes its fd.
  std::string info_text;
  std::string doctor_text;
  std::string doctor_problem;
  double ping_seconds = 0;
  bool local = !settings_.unix_path.empty();
  {
    hiredis_connection connection(ex);
    std::optional<redis_link_error> connect_error;
    if (!settings_.unix_path.empty()) {
      connect_error = co_await connection.async_connect_unix(settings_.unix_path);
    } else {
      for (const auto& a : addresses) {
        auto e = co_await connection.async_connect(a, settings_.port);
        if (!e) {
          connect_error.reset();
          local = is_local(a);
          break;
        }
        if (!connect_error) connect_error = e;  // the first address' error names the cause
      }
    }
    if (connect_error) {
      const auto f = classify_link(*connect_error, "");
      auto result = probe_result::failure(f.reason, scrub(f.error));
      if (!resolved_note.empty()) result.evidence.emplace_back("resolved", settings_.host + " -> " + resolved_note);
      co_return result;
    }

    // Turns a failed exchange (connection lost, or an error reply to the
    // first command) into the run's result.
    auto judge = [&](const redis_exchange& exchange, std::string_view name) -> std::optional<probe_result> {
      if (exchange.failure) {
        const auto f = classify_link(*exchange.failure, name);
        return probe_result::failure(f.reason, scrub(f.error));
      }
      if (!exchange.replies.empty() && exchange.replies.front().is_error()) {
        const auto f = classify_reply_error(name, scrub(exchange.replies.front().text));
        return probe_result::failure(f.reason, f.error);
      }
      return std::nullopt;
    };
    using command_list = std::vector<std::vector<std::string>>;

    if (!settings_.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!settings_.username.empty()) auth.push_back(settings_.username);
      auth.push_back(settings_.password);
      const command_list commands{std::move(auth)};
      const auto exchange = co_await connection.async_exec(commands);
      if (auto failed = judge(exchange, "AUTH")) co_return std::move(*failed);
    }
    if (settings_.db) {
      const command_list commands{{"SELECT", std::to_string(*settings_.db)}};
      const auto exchange = co_await connection.async_exec(commands);
      if (auto failed = judge(exchange, "SELECT")) co_return std::move(*failed);
    }

    const command_list ping_command{{"PING"}};
    const auto ping_start = clock::now();
    const auto ping = co_await connection.async_exec(ping_command);
    ping_seconds = std::chrono::duration<double>(clock::now() - ping_start).count();
    if (auto failed = judge(ping, "PING")) co_return std::move(*failed);
    const auto& pong = ping.replies;
    if (pong.front().type != redis_reply::kind::status || pong.front().text != "PONG")
      co_return probe_result::failure("protocol", "unexpected reply to PING: " + describe(pong.front()));

    // INFO and MEMORY DOCTOR in one round trip. MEMORY DOCTOR is optional:
    // older servers or a user without +memory|doctor just lose that evidence.
    const command_list info_commands{{"INFO"}, {"MEMORY", "DOCTOR"}};
    auto info_exchange = co_await connection.async_exec(info_commands);
    if (auto failed = judge(info_exchange, "INFO")) co_return std::move(*failed);
    auto& replies = info_exchange.replies;
    if (replies.size() < 2 || replies[0].type != redis_reply::kind::string)
      co_return probe_result::failure("protocol",
                                      "unexpected reply to INFO: " + (replies.empty() ? std::string("none") : describe(replies[0])));
    info_text = std::move(replies[0].text);
    if (replies[1].type == redis_reply::kind::string || replies[1].type == redis_reply::kind::status)
      doctor_text = std::move(replies[1].text);
    else if (replies[1].is_error())
      doctor_problem = "unavailable: " + scrub(replies[1].text);
  }

  // A reachable, answering server is ok, however full it is.
  const auto info = parse_redis_info(info_text);
  run_facts facts;
  facts.ping_seconds = ping_seconds;
  facts.local = local;
  facts.memory_doctor = std::move(doctor_text);
  facts.memory_doctor_problem = std::move(doctor_problem);
  if (!resolved_note.empty()) facts.resolved = settings_.host + " -> " + resolved_note;
  if (info.number("maxmemory").value_or(0) <= 0 && local) {
    std::optional<long> pid;
    if (auto p = info.number("process_id")) pid = static_cast<long>(*p);
    // /proc and /sys reads block: on the pool, then back on the loop. Not
    // co_spawn on the pool: a run cancelled by its deadline would signal
    // the pool coroutine from the pool thread while the loop thread frees
    // the cancellation slot (a race ASan found); pool_call leaves at once.
    auto call = pool_call<memory_limit>::start(*ctx_,
                                               [pid](const std::atomic<bool>&) { return local_memory_limit(pid); });
    co_await call->wait("reading the memory limit");
    facts.limit = std::move(call->value());
  }
  co_return summarize(info, facts);
}

// ---------------------------------------------------------------------------
// Configuration.

probe_builder redis_probe::create(const probe_settings&, node_reader& r) {
  settings s;
  if (std::string text; r.read("address", text)) {
    if (const auto address = parse_redis_address(text); !address.error.empty()) {
      r.error("address", r.shown("address") + " " + address.error);
    } else {
      s.host = address.host;
      s.port = address.port;
      s.unix_path = address.unix_path;
    }
  }
  r.read("username", s.username, [](const std::string& user) {
    return user.empty() || user.find_first_of(" \r\n") != std::string::npos
               ? "must be a non-empty ACL user name without spaces"
               : "";
  });
  r.read("password", s.password);
  if (!s.username.empty() && s.password.empty())
    r.error("username", "needs a password (AUTH takes a user name and a password)");
  r.read("db", s.db, between{0, std::numeric_limits<int>::max()});
  if (r.failed()) return {};
  return [s = std::move(s)](const probe_context& ctx) { return std::make_unique<redis_probe>(s, ctx); };
}

}  // namespace vitals
