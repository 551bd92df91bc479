#include "probes/redis/redis_summary.hpp"

#include "probes/core/units.hpp"

#include <hiredis/read.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>

namespace vitals {

namespace {

constexpr std::size_t memory_doctor_chars = 500;
constexpr std::size_t errorstats_shown = 5;

// Two significant digits below 10%, so a small share of a large limit (11.8
// MiB of a host's 23.5 GiB) reads "0.049%", never "0.0%".
std::string percent(double ratio) {
  const double value = ratio * 100;
  int digits = 0;
  if (value > 0 && value < 10) digits = std::min(6, 1 - static_cast<int>(std::floor(std::log10(value))));
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.*f%%", digits, value);
  return buffer;
}

std::string fixed(double value, int digits) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

}  // namespace

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

redis_failure classify_link(const redis_link_error& e, std::string_view during) {
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

redis_failure classify_reply_error(std::string_view command, const std::string& text) {
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

probe_result summarize(const redis_info& info, const redis_run_facts& facts) {
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

}  // namespace vitals
