#include "probes/process/process_probe.hpp"

#include "probes/core/proc_text.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/pool_call.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/units.hpp"

#include <pwd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <stdexcept>

namespace vitals {

namespace {

using clock = std::chrono::steady_clock;

constexpr std::size_t top_count = 5;

constexpr metric_info process_metrics[] = {
    {"vitals_process_matches", "Number of processes matching the probe's matcher.", metric_kind::gauge},
    {"vitals_process_rss_bytes", "Summed resident set size of the matching processes.", metric_kind::gauge},
    {"vitals_process_rss_growth_bytes_per_second",
     "Least-squares RSS slope over growth_window, summed per process (restarts are not growth); "
     "absent until the window holds 3 scans spanning a tenth of it.",
     metric_kind::gauge},
    {"vitals_process_rss_limit_eta_seconds",
     "Seconds until the memory limit (rss_limit or the cgroup's memory.max) is reached at the current growth; "
     "only while growth is positive.",
     metric_kind::gauge},
    {"vitals_process_open_fds", "Summed open file descriptors of the matching processes whose fds are readable.",
     metric_kind::gauge},
    {"vitals_process_fds_utilization_ratio",
     "The highest open fds / soft RLIMIT_NOFILE among the matching processes (each against its own limit).",
     metric_kind::gauge},
    {"vitals_process_max_fds", "The tightest soft open-files limit (RLIMIT_NOFILE) among the matching processes.",
     metric_kind::gauge},
    {"vitals_process_cpu_seconds_total",
     "Summed user+system CPU seconds of the current matches; drops when a process is replaced.",
     metric_kind::counter},
};

std::string format_rate(double bytes_per_second) {
  return (bytes_per_second >= 0 ? "+" : "") + format_bytes(bytes_per_second) + "/s";
}

// A start time after the scan's now (a fake tree, another clock) is no age
// at all: such a process counts, as it did before ages were known.
bool younger_than(const process_key& key, clock::duration age, std::uint64_t now_ticks) {
  if (key.start_ticks > now_ticks) return false;
  const auto age_ticks = std::chrono::duration_cast<std::chrono::milliseconds>(age).count() *
                         clock_ticks_per_second() / 1000;
  return now_ticks - key.start_ticks < static_cast<std::uint64_t>(std::max<std::int64_t>(age_ticks, 0));
}

struct memory_limit {
  double headroom_bytes = 0;  // limit minus what is charged against it now
  std::string text;           // for evidence
};

// The limit closest to being reached: rss_limit against the summed RSS, or
// else each cgroup limiting a match, against the cgroup's memory.current.
std::optional<memory_limit> tightest_limit(const process_scan_result& scan, std::optional<std::uint64_t> rss_limit,
                                           double rss_sum) {
  if (rss_limit) {
    return memory_limit{static_cast<double>(*rss_limit) - rss_sum,
                        "rss_limit " + format_bytes(static_cast<double>(*rss_limit)) + " (summed rss " +
                            format_bytes(rss_sum) + ")"};
  }
  std::map<std::string, double> rss_by_cgroup;
  for (const auto& p : scan.matches)
    if (p.cgroup_memory_max) rss_by_cgroup[p.cgroup_limited_by] += static_cast<double>(p.rss_bytes);
  std::optional<memory_limit> best;
  for (const auto& p : scan.matches) {
    if (!p.cgroup_memory_max) continue;
    const double max = static_cast<double>(*p.cgroup_memory_max);
    // memory.current also charges page cache and non-matching members: the
    // cgroup's own view is the one the OOM killer acts on.
    const double used = p.cgroup_memory_current ? static_cast<double>(*p.cgroup_memory_current)
                                                : rss_by_cgroup[p.cgroup_limited_by];
    if (!best || max - used < best->headroom_bytes)
      best = memory_limit{max - used, "cgroup " + p.cgroup_limited_by + " memory.max " + format_bytes(max) +
                                          " (memory.current " + format_bytes(used) + ")"};
  }
  return best;
}

}  // namespace

process_probe::process_probe(settings s, const probe_context& ctx)
    : settings_(std::make_shared<const settings>(std::move(s))),
      scanner_(std::make_shared<process_scanner>(settings_->match, settings_->proc_root, settings_->cgroup_root)),
      ctx_(&ctx),
      growth_(settings_->growth_window) {
  const auto& m = settings_->match;
  if (!m.name && !m.cmdline_regex && !m.pidfile && !m.uid)
    throw std::invalid_argument("process_probe: at least one matcher is required");
  if (settings_->growth_window <= clock::duration::zero())
    throw std::invalid_argument("process_probe: growth_window must be positive");
}

std::span<const metric_info> process_probe::metrics() { return process_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert process_alerts[] = {
    {"ProcessRSSHigh", "last_over_time(vitals_process_rss_bytes[{hold}]) > {}", 2147483648.0, 5min, "medium",
     "{{ $labels.probe }} uses {{ $value | humanize1024 }}B of memory",
     "The processes matched by {{ $labels.probe }} use {{ $value | humanize1024 }}B resident memory together.",
     threshold_unit::bytes},
    {"ProcessMemoryLeak", "last_over_time(vitals_process_rss_growth_bytes_per_second[{hold}]) > {}", 102400, 15min, "medium",
     "{{ $labels.probe }} grows by {{ $value | humanize1024 }}B/s",
     "The memory of {{ $labels.probe }} has grown steadily (restarts excluded).",
     threshold_unit::bytes_per_second},
    {"ProcessFdsNearLimit", "last_over_time(vitals_process_fds_utilization_ratio[{hold}]) > {}", 0.9, 5min, "medium",
     "{{ $labels.probe }} uses {{ $value | humanizePercentage }} of its open file limit",
     "A process matched by {{ $labels.probe }} is close to its RLIMIT_NOFILE.", threshold_unit::ratio},
};

}  // namespace

std::span<const builtin_alert> process_probe::alerts() { return process_alerts; }

std::chrono::steady_clock::duration process_probe::growth_min_age() const {
  return settings_->growth_min_age.value_or(
      std::min<std::chrono::steady_clock::duration>(std::chrono::minutes(1), settings_->growth_window));
}

std::string process_probe::target() const { return settings_->match.describe(); }

asio::awaitable<probe_result> process_probe::run() {
  // A /proc walk cannot be interrupted halfway and needs no cleanup: when
  // the deadline cancels the wait, the scan finishes unobserved.
  auto job = pool_call<process_scan_result>::start(
      *ctx_, [scanner = scanner_](const std::atomic<bool>&) { return scanner->scan(); });
  co_await job->wait("process scan");
  const process_scan_result& scan = job->value();
  const settings& s = *settings_;

  // Growth first: evidence shows each process's slope. A process still
  // starting up is left out, so its history begins once it has settled.
  std::vector<rss_sample> points;
  points.reserve(scan.matches.size());
  std::size_t young = 0;
  for (const auto& p : scan.matches) {
    if (younger_than(p.key, growth_min_age(), scan.now_ticks))
      ++young;
    else
      points.push_back({p.key, p.rss_bytes});
  }
  growth_.add(scan.taken_at, points);

  double rss_sum = 0;
  double cpu_sum = 0;
  double fds_sum = 0;
  std::optional<std::uint64_t> max_fds;
  std::optional<double> fds_ratio;  // the process closest to its own limit
  for (const auto& p : scan.matches) {
    rss_sum += static_cast<double>(p.rss_bytes);
    cpu_sum += p.cpu_seconds;
    if (p.open_fds) fds_sum += static_cast<double>(*p.open_fds);
    if (p.max_fds && (!max_fds || *p.max_fds < *max_fds)) max_fds = p.max_fds;
    if (p.open_fds && p.max_fds && *p.max_fds > 0)
      fds_ratio = std::max(fds_ratio.value_or(0.0), static_cast<double>(*p.open_fds) / static_cast<double>(*p.max_fds));
  }
  const auto count = static_cast<std::int64_t>(scan.matches.size());

  probe_result result = probe_result::success();
  if (count < s.min_count) {
    const std::string matcher = s.match.describe();
    const std::string min = " (min_count " + std::to_string(s.min_count) + ")";
    std::string error = count == 0 ? "no process matches " + matcher + min
                                   : "only " + std::to_string(count) + (count == 1 ? " process matches " : " processes match ") +
                                         matcher + min;
    if (!scan.pidfile_problem.empty()) error += ": " + scan.pidfile_problem;
    result = probe_result::failure("no_match", std::move(error));
  }

  result.samples.push_back({"vitals_process_matches", {}, static_cast<double>(count)});
  result.samples.push_back({"vitals_process_rss_bytes", {}, rss_sum});
  // Not 0 when no match's fds were readable: "unknown" must not read as "none open".
  if (count == 0 || scan.fds_unreadable < scan.matches.size())
    result.samples.push_back({"vitals_process_open_fds", {}, fds_sum});
  if (max_fds) result.samples.push_back({"vitals_process_max_fds", {}, static_cast<double>(*max_fds)});
  if (fds_ratio) result.samples.push_back({"vitals_process_fds_utilization_ratio", {}, *fds_ratio});
  result.samples.push_back({"vitals_process_cpu_seconds_total", {}, cpu_sum});

  const auto growth = growth_.growth_per_second();
  const auto limit = tightest_limit(scan, s.rss_limit, rss_sum);
  if (growth) {
    result.samples.push_back({"vitals_process_rss_growth_bytes_per_second", {}, *growth});
    if (limit && *growth > 0)
      result.samples.push_back(
          {"vitals_process_rss_limit_eta_seconds", {}, std::max(0.0, limit->headroom_bytes) / *growth});
  }

  // Evidence: what `ps aux --sort=-rss | head` and `ls /proc/PID/fd | wc -l` would show.
  auto& ev = result.evidence;
  ev.emplace_back("matched", std::to_string(count) + (count == 1 ? " process" : " processes") + ", rss " +
                                 format_bytes(rss_sum));
  if (!scan.pidfile_problem.empty()) ev.emplace_back("pidfile", scan.pidfile_problem);
  if (growth)
    ev.emplace_back("growth", format_rate(*growth) + " over the last " +
                                  format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(s.growth_window)) +
                                  (young == 0 ? std::string()
                                              : ", not counting " + std::to_string(young) + " younger than " +
                                                    format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        growth_min_age()))));
  else
    ev.emplace_back("growth", "not known yet (needs " + std::to_string(rss_growth_tracker::min_points) +
                                  " scans over at least " +
                                  format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      growth_.min_span())) +
                                  ")");
  if (limit) ev.emplace_back("memory_limit", limit->text);

  std::vector<const process_info*> by_rss;
  by_rss.reserve(scan.matches.size());
  for (const auto& p : scan.matches) by_rss.push_back(&p);
  const auto shown = std::min(top_count, by_rss.size());
  std::partial_sort(by_rss.begin(), by_rss.begin() + static_cast<std::ptrdiff_t>(shown), by_rss.end(),
                    [](const process_info* a, const process_info* b) {
                      return a->rss_bytes != b->rss_bytes ? a->rss_bytes > b->rss_bytes : a->key.pid < b->key.pid;
                    });
  for (std::size_t i = 0; i < shown; ++i) {
    const process_info& p = *by_rss[i];
    const auto own_growth = growth_.growth_per_second(p.key);
    const bool starting = younger_than(p.key, growth_min_age(), scan.now_ticks);
    std::string text = "pid " + std::to_string(p.key.pid) + " " + p.comm + " (user " + p.user + "): rss " +
                       format_bytes(static_cast<double>(p.rss_bytes)) + ", growth " +
                       (own_growth ? format_rate(*own_growth) : std::string(starting ? "n/a (starting up)" : "n/a")) +
                       ", fds " +
                       (p.open_fds ? std::to_string(*p.open_fds) : std::string("?")) + "/" +
                       (p.max_fds ? std::to_string(*p.max_fds) : std::string("unlimited")) +
                       (s.show_cmdline ? ": " + p.cmdline : std::string());
    ev.emplace_back("top " + std::to_string(i + 1), std::move(text));
  }

  if (scan.vanished + scan.zombies + scan.unreadable > 0)
    ev.emplace_back("skipped", std::to_string(scan.vanished) + " exited mid-scan, " + std::to_string(scan.zombies) +
                                   " zombie, " + std::to_string(scan.unreadable) + " unreadable");
  if (scan.fds_unreadable > 0)
    ev.emplace_back("fds_unreadable", std::to_string(scan.fds_unreadable) +
                                          " matching processes (permission denied): their fds are not counted");
  co_return result;
}

// ---------------------------------------------------------------------------
// Configuration.

namespace {

std::optional<uid_t> lookup_user(const std::string& user) {
  std::vector<char> buf(16 * 1024);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) return found->pw_uid;
  // A bare number is a uid even without a passwd entry (containers).
  if (!user.empty() && std::all_of(user.begin(), user.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      user.size() <= 9)
    return static_cast<uid_t>(std::stoul(user));
  return std::nullopt;
}

}  // namespace

probe_builder process_probe::create(const probe_settings&, node_reader& r) {
  settings s;
  if (!r.require("match")) return {};
  auto match = r.map("match");
  if (!match) return {};
  const auto not_empty = [](const std::string& text) { return text.empty() ? "is empty" : ""; };
  match->read("name", s.match.name, [](const std::string& name, const std::string& shown) -> std::string {
    if (name.empty()) return "is empty";
    // The kernel keeps 15 bytes of comm: a longer name could never match.
    if (name.size() > 15)
      return shown + " is longer than 15 bytes, the most a process name (comm) holds; use cmdline: to match the "
                     "full command";
    return {};
  });
  if (match->read("cmdline", s.match.cmdline, not_empty)) {
    std::string why;
    s.match.cmdline_regex = user_regex::compile(*s.match.cmdline, user_regex::anchoring::search, why);
    if (!s.match.cmdline_regex) match->error("cmdline", "invalid regex " + match->shown("cmdline") + ": " + why);
  }
  match->read("pidfile", s.match.pidfile, [](const std::string& path, const std::string& shown) {
    return path.empty() ? std::string("is empty") : absolute_path{}(path, shown);
  });
  if (match->read("user", s.match.user, not_empty)) {
    if (auto uid = lookup_user(*s.match.user))
      s.match.uid = uid;
    else
      match->error("user", "unknown user " + match->shown("user"));
  }
  match->finish();  // unknown matcher keys: a typo must not silently widen the match
  if (!match->failed() && !s.match.name && !s.match.cmdline && !s.match.pidfile && !s.match.user)
    r.error("match", "needs at least one of name, cmdline, pidfile, user");

  r.read("min_count", s.min_count, between{0, 1'000'000});
  r.read("growth_window", s.growth_window, [](const auto& window, const std::string& shown) {
    return window < std::chrono::seconds(1) ? "must be at least 1s, got " + shown : std::string();
  });
  r.read("growth_min_age", s.growth_min_age);
  r.read_size("rss_limit", s.rss_limit, [](std::uint64_t limit) { return limit == 0 ? "must be more than 0" : ""; });
  r.read("show_cmdline", s.show_cmdline);

  if (r.failed()) return {};
  return [s = std::move(s)](const probe_context& ctx) { return std::make_unique<process_probe>(s, ctx); };
}

}  // namespace vitals
