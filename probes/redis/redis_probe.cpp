#include "probes/redis/redis_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/pool_call.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/net/host_addresses.hpp"
#include "probes/net/resolve.hpp"
#include "probes/redis/info_parser.hpp"
#include "probes/redis/redis_address.hpp"
#include "probes/redis/redis_summary.hpp"

#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <limits>
#include <stdexcept>

namespace vitals {

namespace {

using clock = std::chrono::steady_clock;
using command_list = std::vector<std::vector<std::string>>;

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

}  // namespace

redis_probe::redis_probe(settings s, const probe_context& ctx, memory_limit_reader read_limit)
    : settings_(std::move(s)), ctx_(&ctx), connection_(ctx.loop()), read_limit_(std::move(read_limit)) {
  if (settings_.unix_path.empty()) {
    literal_ = parse_ip(settings_.host);
    if (!literal_ && !is_host_name(settings_.host)) throw std::invalid_argument("redis_probe: invalid host");
  }
  if (settings_.port == 0) throw std::invalid_argument("redis_probe: port 0");
  host_addresses_ = shared_interface_addresses();
}

std::span<const metric_info> redis_probe::metrics() { return redis_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert redis_alerts[] = {
    {"RedisMemoryHigh", "last_over_time(vitals_redis_memory_utilization_ratio[{hold}]) > {}", 0.9, 2min, "high",
     "Redis {{ $labels.probe }} uses {{ $value | humanizePercentage }} of its {{ $labels.limit }} limit",
     "Redis {{ $labels.probe }} is close to its memory limit ({{ $labels.limit }}).", threshold_unit::ratio},
    {"RedisEvicting", "rate(vitals_redis_evicted_keys_total[5m]) > 0", builtin_alert::no_threshold, 5min, "medium",
     "Redis {{ $labels.probe }} is evicting keys",
     "Redis {{ $labels.probe }} is at maxmemory and evicts {{ $value | humanize }} keys per second (over the last "
     "5 minutes) to make room for writes."},
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

bool redis_probe::is_local(const asio::ip::address& a) const { return is_host_address(a, *host_addresses_); }

std::string redis_probe::scrub(std::string_view text) const {
  std::string out = one_line(text, 300);
  if (!settings_.password.empty())
    for (auto at = out.find(settings_.password); at != std::string::npos; at = out.find(settings_.password))
      out.replace(at, settings_.password.size(), "<redacted>");
  return out;
}

namespace {

// Turns a failed exchange (connection lost, or an error reply to the first
// command) into the run's result; `scrub` cleans the server's text.
template <class Scrub>
std::optional<probe_result> judge(const redis_exchange& exchange, std::string_view name, Scrub scrub) {
  if (exchange.failure) {
    const auto f = classify_link(*exchange.failure, name);
    return probe_result::failure(f.reason, scrub(f.error));
  }
  if (!exchange.replies.empty() && exchange.replies.front().is_error()) {
    const auto f = classify_reply_error(name, scrub(exchange.replies.front().text));
    return probe_result::failure(f.reason, f.error);
  }
  return std::nullopt;
}

}  // namespace

struct redis_probe::replies {
  std::optional<probe_result> failed;
  bool link_lost = false;  // the connection broke (not an error reply)
  double ping_seconds = 0;
  std::string info;
  std::string doctor;
  std::string doctor_problem;
};

asio::awaitable<std::optional<probe_result>> redis_probe::open() {
  connection_.close();
  local_ = !settings_.unix_path.empty();
  resolved_.clear();
  const auto scrubbed = [this](std::string_view text) { return scrub(text); };

  // --- where to connect ----------------------------------------------------
  std::vector<asio::ip::address> addresses;
  if (settings_.unix_path.empty()) {
    if (literal_) {
      addresses.push_back(*literal_);
    } else {
      const auto r = co_await resolve_host(settings_.host);
      if (r.error || r.addresses.empty())
        co_return probe_result::failure("resolve", "cannot resolve " + settings_.host + ": " +
                                                       (r.error ? r.error.message() : "no address"));
      addresses = r.addresses;
      std::string list;
      for (const auto& a : addresses) list += (list.empty() ? "" : ", ") + a.to_string();
      resolved_ = settings_.host + " -> " + list;
    }
  }

  std::optional<redis_link_error> connect_error;
  if (!settings_.unix_path.empty()) {
    connect_error = co_await connection_.async_connect_unix(settings_.unix_path);
  } else {
    for (const auto& a : addresses) {
      auto e = co_await connection_.async_connect(a, settings_.port);
      if (!e) {
        connect_error.reset();
        local_ = is_local(a);
        break;
      }
      if (!connect_error) connect_error = e;  // the first address' error names the cause
    }
  }
  if (connect_error) {
    const auto f = classify_link(*connect_error, "");
    auto result = probe_result::failure(f.reason, scrub(f.error));
    if (!resolved_.empty()) result.evidence.emplace_back("resolved", resolved_);
    co_return result;
  }

  // Once per connection: both hold until it closes.
  if (!settings_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!settings_.username.empty()) auth.push_back(settings_.username);
    auth.push_back(settings_.password);
    const command_list commands{std::move(auth)};
    if (auto failed = judge(co_await connection_.async_exec(commands), "AUTH", scrubbed)) {
      connection_.close();
      co_return failed;
    }
  }
  if (settings_.db) {
    const command_list commands{{"SELECT", std::to_string(*settings_.db)}};
    if (auto failed = judge(co_await connection_.async_exec(commands), "SELECT", scrubbed)) {
      connection_.close();
      co_return failed;
    }
  }
  co_return std::nullopt;
}

asio::awaitable<redis_probe::replies> redis_probe::check() {
  const auto scrubbed = [this](std::string_view text) { return scrub(text); };
  replies out;
  static const command_list ping_command{{"PING"}};
  const auto ping_start = clock::now();
  const auto ping = co_await connection_.async_exec(ping_command);
  out.ping_seconds = std::chrono::duration<double>(clock::now() - ping_start).count();
  out.link_lost = ping.failure.has_value();
  if ((out.failed = judge(ping, "PING", scrubbed))) co_return out;
  const auto& pong = ping.replies.front();
  if (pong.type != redis_reply::kind::status || pong.text != "PONG") {
    out.failed = probe_result::failure("protocol", "unexpected reply to PING: " + scrub(describe_reply(pong)));
    co_return out;
  }

  // INFO and MEMORY DOCTOR in one round trip. MEMORY DOCTOR is optional:
  // older servers or a user without +memory|doctor just lose that evidence.
  static const command_list info_commands{{"INFO"}, {"MEMORY", "DOCTOR"}};
  auto info = co_await connection_.async_exec(info_commands);
  out.link_lost = info.failure.has_value();
  if ((out.failed = judge(info, "INFO", scrubbed))) co_return out;
  auto& r = info.replies;
  if (r.size() < 2 || r[0].type != redis_reply::kind::string) {
    out.failed = probe_result::failure(
        "protocol", "unexpected reply to INFO: " + (r.empty() ? std::string("none") : scrub(describe_reply(r[0]))));
    co_return out;
  }
  out.info = std::move(r[0].text);
  if (r[1].type == redis_reply::kind::string || r[1].type == redis_reply::kind::status)
    out.doctor = std::move(r[1].text);
  else if (r[1].is_error())
    out.doctor_problem = "unavailable: " + scrub(r[1].text);
  co_return out;
}

asio::awaitable<memory_limit> redis_probe::limit_of(const redis_info& info) {
  memory_limit_cache::server server;
  if (const auto* run_id = info.find("run_id")) server.run_id = *run_id;
  if (const auto pid = info.number("process_id")) server.process_id = static_cast<long>(*pid);
  server.maxmemory = info.number("maxmemory").value_or(0);
  const auto now = clock::now();
  if (const auto* known = limits_.find(server, now)) co_return *known;
  // /proc and /sys reads block: on the pool, then back on the loop. Not
  // co_spawn on the pool: a run cancelled by its deadline would signal
  // the pool coroutine from the pool thread while the loop thread frees
  // the cancellation slot (a race ASan found); pool_call leaves at once.
  auto call = pool_call<memory_limit>::start(
      *ctx_, [pid = server.process_id, read = read_limit_](const std::atomic<bool>&) { return read(pid); });
  co_await call->wait("reading the memory limit");
  limits_.store(std::move(server), call->value(), now);
  co_return call->value();
}

asio::awaitable<probe_result> redis_probe::run() {
  const bool reused = connection_.is_open();
  if (!reused)
    if (auto failed = co_await open()) co_return std::move(*failed);
  auto got = co_await check();
  if (got.link_lost && reused) {
    // The kept connection died since the last run (a server restart, its
    // idle `timeout`, CLIENT KILL) without the loop noticing yet: one fresh
    // connection, same run, as a run on a new connection would have seen.
    if (auto failed = co_await open()) co_return std::move(*failed);
    got = co_await check();
  }
  if (got.failed) {
    connection_.close();  // the next run starts afresh, as after any failure
    co_return std::move(*got.failed);
  }

  // A reachable, answering server is ok, however full it is.
  const auto info = parse_redis_info(got.info);
  redis_run_facts facts;
  facts.ping_seconds = got.ping_seconds;
  facts.local = local_;
  facts.memory_doctor = std::move(got.doctor);
  facts.memory_doctor_problem = std::move(got.doctor_problem);
  facts.resolved = resolved_;
  if (info.number("maxmemory").value_or(0) <= 0 && local_) facts.limit = co_await limit_of(info);
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
