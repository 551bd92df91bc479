#include "daemon/server/routes.hpp"

#include "daemon/alerts/alert_engine.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/server/compression.hpp"
#include "daemon/server/history_views.hpp"
#include "daemon/server/runbook_pages.hpp"
#include "daemon/server/status_views.hpp"
#include "daemon/state/probe_history.hpp"
#include "daemon/state/state_keeper.hpp"
#include "daemon/server/status_assets.hpp"
#include "probes/core/probe.hpp"
#include "probes/core/time_format.hpp"
#include "probes/core/units.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace vitals {

namespace {

// Durations from requests beyond this are taken as "all".
constexpr auto longest_since = std::chrono::hours(24 * 365 * 100);

http_response method_not_allowed(const char* allow) {
  auto r = http_response::text(405, "method not allowed");
  r.headers.emplace_back("Allow", allow);
  return r;
}

// The first value of a query parameter, percent-decoded.
std::optional<std::string> param(const boost::urls::url_view& url, std::string_view name) {
  const auto params = url.params();
  const auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  return std::string((*it).value);
}

// GET /api/v1/incidents?since=24h&limit=N: open, or resolved within that
// long (default: all kept); the newest N (default 1000). `vitalsd incidents
// --json` has the same defaults (incidents_command.hpp): it prints this.
http_response incidents(const route_context& ctx, const boost::urls::url_view& url) {
  auto since = std::chrono::milliseconds(longest_since);
  if (const auto v = param(url, "since")) {
    const auto d = parse_duration(*v);
    if (!d)
      return http_response::text(400,
                                 "since: expected a duration such as 30m, 24h or 7d, got \"" + printable(*v) + "\"");
    since = std::min(*d, since);
  }
  std::size_t limit = 1000;
  if (const auto v = param(url, "limit")) {
    const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), limit);
    if (ec != std::errc() || p != v->data() + v->size() || limit == 0)
      return http_response::text(400, "limit: expected a whole number from 1, got \"" + printable(*v) + "\"");
  }
  const auto list = valid_utf8_incidents(ctx.keeper.incidents(alerts::wall_clock::now() - since, limit));
  return http_response{200, "application/json", incidents_json(list), {}, {}};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A Host header or an Origin's authority: its host (lower case, an IPv6
// address without brackets) and port, or nullopt when it is not one.
struct authority {
  std::string host;
  std::optional<std::uint16_t> port;
  bool bracketed = false;  // "[::1]"
};

std::optional<authority> parse_authority(std::string_view text) {
  authority a;
  std::string_view rest;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    a.host = lower(text.substr(1, close - 1));
    a.bracketed = true;
    rest = text.substr(close + 1);
  } else {
    const auto colon = text.find(':');
    a.host = lower(text.substr(0, colon));
    if (colon != std::string_view::npos) rest = text.substr(colon);
  }
  if (a.host.empty()) return std::nullopt;
  if (rest.empty()) return a;
  if (rest[0] != ':') return std::nullopt;
  rest.remove_prefix(1);
  std::uint16_t port = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), port);
  if (ec != std::errc() || end != rest.data() + rest.size() || port == 0) return std::nullopt;
  a.port = port;
  return a;
}

// Host without a port means the scheme's default: when the server listens
// on 80 or 443 that may be us; on any other port it is not.
bool port_is(const authority& a, std::uint16_t port) {
  return a.port ? *a.port == port : (port == 80 || port == 443);
}

bool host_names_this_server(const authority& h, const listen_hosts& hosts, const std::string& host_name) {
  const auto port = hosts.listening.port();
  for (const auto& entry : hosts.allowed) {
    const auto a = parse_authority(entry);
    if (a && a->host == h.host && (a->port ? h.port == a->port : (!h.port || *h.port == port))) return true;
  }
  if (!port_is(h, port)) return false;
  const auto listening = hosts.listening.address();
  boost::system::error_code ec;
  const auto literal = asio::ip::make_address(h.host, ec);
  // A name may be pointed at this address by anyone who owns it (DNS
  // rebinding): only the loopback name, this host's own name when it listens
  // everywhere, and the allowed hosts are trusted. An address in the URL
  // cannot be rebound.
  if (ec) return h.host == "localhost" || (listening.is_unspecified() && h.host == lower(host_name));
  if (h.bracketed != literal.is_v6()) return false;  // "::1" or "[127.0.0.1]" is not how a URL writes them
  return literal.is_loopback() || listening.is_unspecified() || literal == listening;
}

// An Origin that is not the Host the request was sent to came from a page
// of another site.
std::optional<std::string> foreign_origin(const std::string& origin, const authority& host) {
  const auto shown = "Origin \"" + printable(origin) + "\"";
  const auto scheme_end = origin.find("://");
  const auto scheme = lower(std::string_view(origin).substr(0, scheme_end));
  const auto a = scheme_end == std::string::npos || (scheme != "http" && scheme != "https")
                     ? std::nullopt
                     : parse_authority(std::string_view(origin).substr(scheme_end + 3));
  if (!a) return shown + " is not this server (a sandboxed page, a file or another scheme)";
  const std::uint16_t fallback = scheme == "https" ? 443 : 80;
  if (a->host != host.host || a->port.value_or(fallback) != host.port.value_or(fallback))
    return shown + " is another site than the Host it was sent to";
  return std::nullopt;
}

bool is_json(const std::string* content_type) {
  if (!content_type) return false;
  std::string_view media = *content_type;
  media = media.substr(0, media.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  while (!media.empty() && media.front() == ' ') media.remove_prefix(1);
  return lower(media) == "application/json";
}

http_response reload_later(const route_context& ctx) {
  http_response later;
  later.deferred = [reload = ctx.reload](std::function<void(http_response)> reply) {
    reload([reply = std::move(reply)](bool ok, const std::string& errors) {
      reply(ok ? http_response::text(200, "config reloaded")
               : http_response::text(500, "config rejected, previous config kept:\n" + errors));
    });
  };
  return later;
}

// A snapshot of this many probes or fewer (about 2 KB of text each) is
// serialised and compressed in well under a millisecond: on the loop, that
// costs less than the two thread hand-offs the pool would.
constexpr std::size_t metrics_on_loop_max_probes = 32;

http_response metrics_response(const metrics_snapshot& snap, bool gzip) {
  http_response r{200, std::string(metrics::content_type), {}, {}, {}};
  r.headers.emplace_back("Vary", "Accept-Encoding");
  if (gzip) {
    gzip_writer z(1, snap.probes() <= metrics_on_loop_max_probes);
    snap.write([&z](std::string_view piece) { z.write(piece); });
    r.body = z.finish();
    r.headers.emplace_back("Content-Encoding", "gzip");
  } else {
    r.body = snap.text();
  }
  return r;
}

// /metrics: a snapshot taken now, serialised (and gzipped when the client
// accepts it) on the pool when it is large, so it never holds the loop; the
// answer is written from the loop when it is ready.
http_response metrics_later(const route_context& ctx, const http_request& req) {
  const auto* accept = req.header("Accept-Encoding");
  const bool gzip = accept && accepts_gzip(*accept);
  auto snap = ctx.telemetry.snapshot();
  if (snap->probes() <= metrics_on_loop_max_probes) return metrics_response(*snap, gzip);
  http_response later;
  later.deferred = [snap = std::move(snap), gzip, pool = &ctx.work.pool,
                    loop = ctx.work.loop()](std::function<void(http_response)> reply) {
    asio::post(*pool, [snap, gzip, loop, reply = std::move(reply)]() mutable {
      auto r = metrics_response(*snap, gzip);
      asio::post(loop, [reply = std::move(reply), r = std::move(r)]() mutable { reply(std::move(r)); });
    });
  };
  return later;
}

// A page or a JSON answer, gzipped when the client accepts it and it is
// worth it (the status page of 20 probes is about 100 KB of markup, a
// tenth of that gzipped).
bool wants_gzip(const http_request& req) {
  const auto* accept = req.header("Accept-Encoding");
  return accept && accepts_gzip(*accept);
}

http_response maybe_gzipped(bool gzip, http_response r) {
  r.headers.emplace_back("Vary", "Accept-Encoding");
  if (!gzip || r.status != 200 || r.body.size() < 1024) return r;
  gzip_writer z(1, r.body.size() < 64 * 1024);
  z.write(r.body);
  r.body = z.finish();
  r.headers.emplace_back("Content-Encoding", "gzip");
  return r;
}

// --- Run history ---------------------------------------------------------

// The longest range the history API answers for: hourly aggregates are
// kept at most that long.
constexpr auto longest_history_range = std::chrono::hours(24 * 366);

// The aggregates read for one range, with the open one (in memory) last.
history_range range_of(const probe_history& history, const std::string& name, std::chrono::seconds range,
                       std::chrono::system_clock::time_point now, state_keeper::history_answer answer) {
  const auto& tier = tier_for(range);
  history_range r{range, tier.step, now, std::move(answer.buckets), answer.complete, std::move(answer.problem)};
  // Closed since the keeper last took them (it does every few seconds).
  const auto since_ms = unix_ms(now - range);
  for (const auto& b : history.closed_not_taken(name, tier.step)) {
    if (b.start_ms < since_ms) continue;
    const auto at = std::lower_bound(r.buckets.begin(), r.buckets.end(), b.start_ms,
                                     [](const history_bucket& x, std::int64_t start) { return x.start_ms < start; });
    if (at != r.buckets.end() && at->start_ms == b.start_ms)
      *at = b;
    else
      r.buckets.insert(at, b);
  }
  if (const auto open = history.open_bucket(name, tier.step)) {
    if (!r.buckets.empty() && r.buckets.back().start_ms == open->start_ms)
      r.buckets.back() = *open;  // it holds what was written of it at the last stop
    else if (r.buckets.empty() || r.buckets.back().start_ms < open->start_ms)
      r.buckets.push_back(*open);
  }
  return r;
}

// The probe's aggregates over each of `ranges`, read one after the other;
// then `done` with them all. On the loop.
void read_ranges(const route_context& ctx, std::string name, std::vector<std::chrono::seconds> ranges,
                 std::chrono::system_clock::time_point now,
                 std::function<void(std::vector<history_range>)> done,
                 std::vector<history_range> read = {}) {
  if (read.size() == ranges.size()) {
    done(std::move(read));
    return;
  }
  const auto range = ranges[read.size()];
  const auto& keeper = ctx.keeper;
  keeper.read_history(name, tier_for(range).step, now - range,
                      [&ctx, name, ranges = std::move(ranges), now, done = std::move(done),
                       read = std::move(read)](state_keeper::history_answer answer) mutable {
                        read.push_back(range_of(ctx.history, name, ranges[read.size()], now, std::move(answer)));
                        read_ranges(ctx, std::move(name), std::move(ranges), now, std::move(done), std::move(read));
                      });
}

http_response no_such_probe(const std::string& name) {
  return http_response::text(404, "no probe named \"" + printable(name) + "\" is configured");
}

// GET /api/v1/probes/NAME/history?range=24h
http_response history_api(const route_context& ctx, const boost::urls::url_view& url, const std::string& name,
                          bool gzip) {
  std::chrono::seconds range = std::chrono::hours(24);
  if (const auto v = param(url, "range")) {
    const auto d = parse_duration(*v);
    if (!d || *d < std::chrono::minutes(1) || *d > longest_history_range)
      return http_response::text(
          400, "range: expected a duration from 1m to 366d such as 1h, 24h or 7d, got \"" + printable(*v) + "\"");
    range = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  std::size_t runs = probe_history::recent_runs_kept;
  if (const auto v = param(url, "runs")) {
    const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), runs);
    if (ec != std::errc() || p != v->data() + v->size() || runs > probe_history::recent_runs_kept)
      return http_response::text(400, "runs: expected a whole number from 0 to " +
                                          std::to_string(probe_history::recent_runs_kept) + ", got \"" +
                                          printable(*v) + "\"");
  }
  auto status = ctx.sched.status_of(name);
  const auto now = alerts::wall_clock::now();
  auto view = ctx.history.find(name, now);
  if (!status || !view) return no_such_probe(name);
  http_response later;
  later.deferred = [&ctx, name, range, runs, now, gzip, status = std::move(*status),
                    view = std::move(*view)](std::function<void(http_response)> reply) {
    read_ranges(ctx, name, {range}, now,
                [status, view, runs, gzip, reply = std::move(reply)](std::vector<history_range> ranges) {
                  reply(maybe_gzipped(gzip, http_response{200, "application/json",
                                                          history_json(status, view, ranges.front(), runs), {}, {}}));
                });
  };
  return later;
}

// GET /probes/NAME
http_response probe_page_response(const route_context& ctx, const std::string& name, bool gzip) {
  auto status = ctx.sched.status_of(name);
  const auto now = alerts::wall_clock::now();
  auto view = ctx.history.find(name, now);
  if (!status || !view) return no_such_probe(name);
  auto page = std::make_shared<probe_page>();
  page->host = ctx.host_name;
  page->now = now;
  page->probe = std::move(*status);
  page->history = std::move(*view);
  for (auto& i : valid_utf8_incidents(ctx.keeper.incidents(now - std::chrono::days(7), 1000))) {
    const auto probe = i.labels.find("probe");
    if (probe != i.labels.end() && probe->second == name) page->incidents.push_back(std::move(i));
  }
  http_response later;
  later.deferred = [&ctx, name, page, gzip](std::function<void(http_response)> reply) {
    read_ranges(ctx, name, {std::chrono::hours(1), std::chrono::hours(24), std::chrono::hours(24 * 7)}, page->now,
                [page, gzip, reply = std::move(reply)](std::vector<history_range> ranges) {
                  page->ranges = std::move(ranges);
                  reply(maybe_gzipped(gzip, http_response{200, "text/html; charset=utf-8", probe_page_html(*page), {}, {}}));
                });
  };
  return later;
}

// NAME of /probes/NAME or /api/v1/probes/NAME/history, decoded.
std::optional<std::string> probe_in_path(const boost::urls::url_view& url, bool api) {
  std::vector<std::string> parts;
  for (auto seg : url.segments()) parts.push_back(std::string(seg));
  if (!api && parts.size() == 2 && parts[0] == "probes" && !parts[1].empty()) return parts[1];
  if (api && parts.size() == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "probes" &&
      parts[4] == "history" && !parts[3].empty())
    return parts[3];
  return std::nullopt;
}

std::optional<http_response> static_asset_response(const std::string& path) {
  const auto asset = find_status_asset(path);
  if (!asset) return std::nullopt;
  http_response r{200, std::string(asset->content_type), std::string(asset->body), {}, {}};
  // Its URL on the page carries a hash of the content: a new build's page
  // asks for a new URL, so a cached copy never outlives its version.
  r.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
  return r;
}

}  // namespace

std::optional<std::string> cross_site_refusal(const http_request& req, const listen_hosts& hosts,
                                              const std::string& host_name) {
  const auto* host_header = req.header("Host");
  if (!host_header) return "refused: the request has no Host header";
  const auto host = parse_authority(*host_header);
  if (!host || !host_names_this_server(*host, hosts, host_name))
    return "refused: Host \"" + printable(*host_header) +
           "\" does not name this server (a site can point its own name at it); add it to server.allowed_hosts "
           "if it does";
  if (const auto* origin = req.header("Origin"))
    if (auto why = foreign_origin(*origin, *host)) return "refused: " + *why;
  if (const auto* site = req.header("Sec-Fetch-Site"); site && (*site == "cross-site" || *site == "same-site"))
    return "refused: the browser sent it from another site (Sec-Fetch-Site: " + printable(*site) + ")";
  if (!req.header("X-Requested-With") && !is_json(req.header("Content-Type")))
    return "refused: a web page could send this request; add the header X-Requested-With (any value) or "
           "Content-Type: application/json, e.g. curl -X POST -H 'X-Requested-With: vitalsd' " +
           printable(*host_header) + printable(req.target);
  return std::nullopt;
}

http_response route(const route_context& ctx, const http_request& req) {
  const auto parsed = boost::urls::parse_origin_form(req.target);
  if (!parsed) return http_response::text(400, "bad request target");
  const boost::urls::url_view url = *parsed;
  const std::string path = url.path();
  const bool get = req.method == "GET" || req.method == "HEAD";

  if (path == "/-/reload") {
    if (req.method != "POST" && req.method != "PUT") return method_not_allowed("POST");
    if (!ctx.lifecycle_enabled())
      return http_response::text(403, "lifecycle API disabled; set server.enable_lifecycle: true");
    // Without the listen address nothing can be checked: refused, not let through.
    if (!ctx.hosts) return http_response::text(403, "refused: the server does not know its listen address");
    if (auto why = cross_site_refusal(req, ctx.hosts(), ctx.host_name)) return http_response::text(403, *why);
    return reload_later(ctx);
  }
  if (path.starts_with("/static/")) {
    if (!get) return method_not_allowed("GET");
    if (auto asset = static_asset_response(path)) return std::move(*asset);
  }
  if (path == "/runbooks" || path.starts_with(runbook_path)) {
    if (!get) return method_not_allowed("GET");
    return runbook_response(builtin_runbook_pages(), path);
  }
  if (path == "/metrics" || path == "/-/healthy" || path == "/-/ready" || path == "/api/v1/probes" ||
      path == "/api/v1/alerts" || path == "/api/v1/incidents" || path == "/") {
    if (!get) return method_not_allowed("GET");
  }
  if (path == "/metrics") return metrics_later(ctx, req);
  if (path == "/-/healthy") return http_response::text(200, "vitalsd is healthy");
  if (path == "/-/ready") {
    if (!ctx.ready()) return http_response::text(503, "vitalsd is starting");
    return http_response::text(200, "vitalsd is ready");
  }
  if (path.starts_with("/probes/") || (path.starts_with("/api/v1/probes/") && path.ends_with("/history"))) {
    if (!get) return method_not_allowed("GET");
    const bool api = path.starts_with("/api/");
    if (const auto name = probe_in_path(url, api))
      return api ? history_api(ctx, url, *name, wants_gzip(req)) : probe_page_response(ctx, *name, wants_gzip(req));
  }
  if (path == "/api/v1/probes") return http_response{200, "application/json", probes_json(ctx.sched.status()), {}, {}};
  if (path == "/api/v1/alerts")
    return http_response{200, "application/json", alerts_json(ctx.alert_engine.active()), {}, {}};
  if (path == "/api/v1/incidents") return incidents(ctx, url);
  if (path == "/") {
    status_page page{ctx.host_name, alerts::wall_clock::now(), ctx.sched.status(), ctx.alert_engine.active(), {}, {}};
    for (const auto& p : page.probes)
      if (auto v = ctx.history.find(p.settings.name, page.now)) page.history.emplace(p.settings.name, std::move(*v));
    page.incidents = valid_utf8_incidents(ctx.keeper.incidents(page.now - std::chrono::days(7), 20));
    const bool gzip = wants_gzip(req);
    if (page.probes.size() <= metrics_on_loop_max_probes)
      return maybe_gzipped(gzip, http_response{200, "text/html; charset=utf-8", status_page_html(page), {}, {}});
    // Hundreds of probes with their strips and sparklines take milliseconds
    // to write: on the pool, from what was gathered here.
    http_response later;
    later.deferred = [page = std::make_shared<status_page>(std::move(page)), gzip, pool = &ctx.work.pool,
                      loop = ctx.work.loop()](std::function<void(http_response)> reply) {
      asio::post(*pool, [page, gzip, loop, reply = std::move(reply)]() mutable {
        auto r = maybe_gzipped(gzip, http_response{200, "text/html; charset=utf-8", status_page_html(*page), {}, {}});
        asio::post(loop, [reply = std::move(reply), r = std::move(r)]() mutable { reply(std::move(r)); });
      });
    };
    return later;
  }
  return http_response::text(404, "not found");
}

}  // namespace vitals
