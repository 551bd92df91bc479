#include "daemon/server/history_views.hpp"

#include "daemon/server/html_text.hpp"
#include "daemon/server/status_views.hpp"
#include "daemon/server/status_assets.hpp"
#include "probes/core/time_format.hpp"
#include "probes/core/units.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace vitals {

namespace json = boost::json;

namespace {

std::string num(double v, const char* format = "%.1f") {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::chrono::system_clock::time_point from_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

// "14:05:09" (UTC), or "12-06 14:05" when `with_date`.
std::string clock_text(std::int64_t ms, bool with_date = false) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, with_date ? "%m-%d %H:%M" : "%H:%M:%S", &tm);
  return buf;
}

// A key's value for people, by its unit.
std::string key_text(const history_key& k, double v) {
  if (!std::isfinite(v)) return "–";
  if (k.unit == "bytes") return format_bytes(v);
  if (k.unit == "bytes/s") return (v > 0 ? "+" : "") + format_bytes(v) + "/s";
  if (k.unit == "seconds") return format_seconds(v);
  if (k.unit == "ratio") return num(v * 100) + " %";
  return num(v, "%.0f");
}

std::string run_title(const recent_run& r) {
  std::string t = clock_text(r.at_ms) + " " + std::string(run_end_name(r.end));
  if (r.end != run_end::skipped) t += " " + format_seconds(r.duration_seconds);
  if (r.cause && !r.cause->empty()) t += " · " + *r.cause;
  return t;
}

// <svg class="bar">: `part` of `whole`, classed warn from 80 % and bad from 95 %.
std::string bar_svg(double part, double whole, const std::string& label) {
  if (!(whole > 0) || !std::isfinite(part)) return "";
  const double share = std::clamp(part / whole, 0.0, 1.0);
  const char* level = share >= 0.95 ? "bad" : share >= 0.8 ? "warn" : "fine";
  std::ostringstream out;
  out << "<svg class=\"bar\" viewBox=\"0 0 100 8\" width=\"100\" height=\"8\" role=\"img\" aria-label=\""
      << html_escape(label) << "\" data-ratio=\"" << num(share, "%.4f") << "\"><title>" << html_escape(label)
      << "</title><rect class=\"track\" width=\"100\" height=\"8\" rx=\"2\"/><rect class=\"fill " << level
      << "\" width=\"" << num(share * 100) << "\" height=\"8\" rx=\"2\"/></svg>";
  return out.str();
}

// The last finite value of key `i` among the recent runs, with its index.
double last_value(const probe_history::view& v, std::size_t i) {
  for (auto it = v.run_keys.rbegin(); it != v.run_keys.rend(); ++it)
    if (std::isfinite((*it)[i])) return (*it)[i];
  return std::nan("");
}

// Key `i` of the runs the status page's strip shows (NaN where skipped).
std::vector<double> key_series(const probe_history::view& v, std::size_t i) {
  std::vector<double> out;
  for (std::size_t r = v.run_keys.size() - std::min(strip_runs, v.run_keys.size()); r < v.run_keys.size(); ++r)
    out.push_back(v.runs[r].end == run_end::skipped ? std::nan("") : v.run_keys[r][i]);
  return out;
}

std::string key_line(const history_key& k, const std::string& value_html, const std::string& extra = "") {
  return "<div class=\"key\"><span class=\"muted\">" + html_escape(k.title) + "</span> " + value_html + extra +
         "</div>";
}

}  // namespace

std::string probe_page_path(std::string_view name) {
  return "/probes/" + boost::urls::encode(name, boost::urls::unreserved_chars);
}

std::string run_strip_svg(const std::vector<recent_run>& runs, std::size_t cells) {
  const std::size_t shown = std::min(cells, runs.size());
  constexpr double cell = strip_pitch - 1, gap = 1, height = 16;
  const double width = static_cast<double>(cells) * (cell + gap);
  std::size_t bad = 0;
  for (std::size_t i = runs.size() - shown; i < runs.size(); ++i)
    if (runs[i].end == run_end::failed || runs[i].end == run_end::timed_out) ++bad;
  std::ostringstream out;
  const std::string label = "last " + std::to_string(shown) + " runs, " + std::to_string(bad) + " failed (times UTC)";
  out << "<svg class=\"strip\" viewBox=\"0 0 " << num(width, "%.0f") << " " << height << "\" width=\""
      << num(width, "%.0f") << "\" height=\"" << height << "\" role=\"img\" aria-label=\"" << label << "\">";
  // Right-aligned: the newest run is always in the last cell. A cell's
  // size comes from the stylesheet (4 × 16 px): with a few dozen probes of
  // 60 cells each, every byte of a cell counts.
  double x = width - static_cast<double>(shown) * (cell + gap);
  for (std::size_t i = runs.size() - shown; i < runs.size(); ++i, x += cell + gap) {
    const auto& r = runs[i];
    out << "<rect class=\"" << run_end_name(r.end) << "\" x=\"" << num(x, "%.0f") << "\" data-at=\"" << r.at_ms
        << "\"><title>" << html_escape(run_title(r)) << "</title></rect>";
  }
  out << "</svg>";
  return out.str();
}

std::string sparkline_svg(const std::vector<double>& values, const std::string& label, double pitch) {
  double top = 0;
  std::size_t finite = 0;
  for (double v : values)
    if (std::isfinite(v)) {
      top = std::max(top, v);
      ++finite;
    }
  if (finite < 2) return "";
  const double width = pitch * static_cast<double>(values.size());
  std::ostringstream points;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    const double y = top > 0 ? spark_height - 1 - (spark_height - 2) * values[i] / top : spark_height - 1;
    points << (points.tellp() > 0 ? " " : "") << num(pitch * static_cast<double>(i) + (pitch - 1) / 2) << ","
           << num(y);
  }
  std::ostringstream out;
  out << "<svg class=\"spark\" viewBox=\"0 0 " << width << " " << spark_height << "\" width=\"" << width
      << "\" height=\"" << spark_height << "\" role=\"img\" aria-label=\"" << html_escape(label) << "\"><title>"
      << html_escape(label) << "</title><polyline points=\"" << points.str() << "\"/></svg>";
  return out.str();
}

std::string uptime_text(const uptime& u) {
  const auto r = u.ratio();
  if (!r) return "–";
  if (u.good == u.runs) return "100 %";
  // Never rounded up to 100 % while a run failed.
  const double pct = std::floor(*r * 10000) / 100;
  return num(pct, "%.2f") + " %";
}

std::string history_cell(const probe_history::view& v) {
  // One slot per cell of the strip, so each point sits under its run.
  std::vector<double> slots(strip_runs, std::nan(""));
  const std::size_t shown = std::min(strip_runs, v.runs.size());
  double top = 0;
  for (std::size_t j = 0; j < shown; ++j) {
    const auto& r = v.runs[v.runs.size() - shown + j];
    if (r.end == run_end::skipped) continue;
    slots[strip_runs - shown + j] = r.duration_seconds;
    top = std::max(top, static_cast<double>(r.duration_seconds));
  }
  return run_strip_svg(v.runs, strip_runs) +
         sparkline_svg(slots, "response time of the runs above, up to " + format_seconds(top), strip_pitch);
}

std::string uptime_cell(const probe_history::view& v) {
  std::ostringstream out;
  const std::pair<const char*, const uptime*> windows[] = {
      {"1h", &v.last_hour}, {"24h", &v.last_day}, {"7d", &v.last_week}};
  out << "<dl class=\"uptime\">";
  for (const auto& [name, u] : windows) {
    const auto r = u->ratio();
    out << "<dt>" << name << "</dt><dd data-window=\"" << name << "\" data-good=\"" << u->good << "\" data-runs=\""
        << u->runs << "\"" << (r && *r < 0.99 ? " class=\"bad\"" : "") << ">" << uptime_text(*u) << "</dd>";
  }
  out << "</dl>";
  return out.str();
}

std::string key_numbers_cell(const probe_history::view& v) {
  const auto keys = history_keys(v.kind);
  if (keys.empty() || v.run_keys.empty()) return "";
  std::ostringstream out;
  const auto value = [&](std::size_t i) { return last_value(v, i); };
  const auto text = [&](std::size_t i) { return html_escape(key_text(keys[i], value(i))); };
  if (v.kind == "redis") {
    const double used = value(0), limit = value(1);
    if (limit > 0)
      out << key_line(keys[0], text(0) + " of " + text(1),
                      bar_svg(used, limit, "memory used " + key_text(keys[0], used) + " of " + key_text(keys[1], limit)));
    else
      out << key_line(keys[0], text(0) + " <span class=\"muted\">(no maxmemory)</span>");
  } else if (v.kind == "postgres") {
    out << key_line(keys[0], text(0) + " of " + text(1),
                    bar_svg(value(0), value(1), "sessions " + key_text(keys[0], value(0)) + " of " +
                                                    key_text(keys[1], value(1))));
    out << key_line(keys[2], text(2));
  } else if (v.kind == "process") {
    out << key_line(keys[0], text(0), sparkline_svg(key_series(v, 0), "RSS over the last runs"));
    if (std::isfinite(value(1))) out << key_line(keys[1], text(1));
    out << key_line(keys[2], text(2));
  } else if (v.kind == "disk") {
    const double free = value(0), size = value(1);
    out << key_line(keys[0], text(0) + " of " + text(1),
                    bar_svg(size - free, size, "used " + key_text(keys[0], size - free) + " of " + key_text(keys[1], size)));
  } else if (v.kind == "sqlite") {
    const bool locked = value(0) > 0;
    out << "<div class=\"key\"><span class=\"" << (locked ? "bad" : "muted") << "\">"
        << (locked ? "writer lock held " + html_escape(key_text(keys[1], value(1))) : std::string("no writer lock"))
        << "</span></div>";
  } else if (v.kind == "websocket" || v.kind == "log") {
    out << key_line(keys[0], text(0), sparkline_svg(key_series(v, 0), std::string(keys[0].title) + " over the last runs"));
  } else {
    for (std::size_t i = 0; i < keys.size(); ++i) out << key_line(keys[i], text(i));
  }
  return out.str();
}

// --- GET /api/v1/probes/NAME/history -------------------------------------

namespace {

json::value finite_or_null(double v) { return std::isfinite(v) ? json::value(v) : json::value(nullptr); }

json::object uptime_json(const uptime& u) {
  const auto r = u.ratio();
  return json::object{{"ratio", r ? json::value(*r) : json::value(nullptr)}, {"good", u.good}, {"runs", u.runs}};
}

}  // namespace

std::string history_json(const probe_status& p, const probe_history::view& v, const history_range& r,
                         std::size_t newest) {
  const auto keys = history_keys(v.kind);
  json::object o;
  o["probe"] = p.settings.name;
  o["kind"] = v.kind;
  o["range_seconds"] = r.range.count();
  o["step_seconds"] = r.step.count();
  o["complete"] = r.complete;
  if (!r.complete) o["problem"] = r.problem;
  json::array key_list;
  for (const auto& k : keys)
    key_list.push_back(json::object{{"name", k.name}, {"title", k.title}, {"unit", k.unit}});
  o["keys"] = std::move(key_list);
  uptime over_range;
  json::array points;
  for (const auto& b : r.buckets) {
    json::object pt;
    pt["start"] = rfc3339(from_ms(b.start_ms));
    pt["runs"] = b.runs;
    pt["failed"] = b.failed;
    pt["timed_out"] = b.timed_out;
    pt["skipped"] = b.skipped;
    if (b.runs)
      pt["duration_seconds"] = json::object{{"min", b.duration_min},
                                            {"avg", b.duration_sum / b.runs},
                                            {"max", b.duration_max}};
    else
      pt["duration_seconds"] = nullptr;
    json::object values;
    for (std::size_t i = 0; i < keys.size(); ++i) values[keys[i].name] = finite_or_null(b.keys[i]);
    pt["values"] = std::move(values);
    points.push_back(std::move(pt));
    over_range.good += b.good();
    over_range.runs += b.runs;
  }
  o["uptime"] = uptime_json(over_range);
  o["points"] = std::move(points);
  json::array runs;
  for (std::size_t i = v.runs.size() - std::min(newest, v.runs.size()); i < v.runs.size(); ++i) {
    const auto& run = v.runs[i];
    json::object x;
    x["at"] = rfc3339(from_ms(run.at_ms));
    x["at_ms"] = run.at_ms;
    x["result"] = run_end_name(run.end);
    x["duration_seconds"] = run.end == run_end::skipped ? json::value(nullptr) : json::value(run.duration_seconds);
    x["cause"] = run.cause ? *run.cause : std::string();
    if (!v.run_keys.empty()) {
      json::object values;
      for (std::size_t k = 0; k < keys.size(); ++k) values[keys[k].name] = finite_or_null(v.run_keys[i][k]);
      x["values"] = std::move(values);
    }
    runs.push_back(std::move(x));
  }
  o["recent_runs"] = std::move(runs);
  o["uptime_windows"] =
      json::object{{"1h", uptime_json(v.last_hour)}, {"24h", uptime_json(v.last_day)}, {"7d", uptime_json(v.last_week)}};
  auto text = json::serialize(o);
  make_valid_utf8(text);
  return text;
}

// --- GET /probes/NAME ------------------------------------------------------

namespace {

// A chart's drawing units: its labels stay readable where it is drawn
// (a response-time chart across the page, key charts two to a row).
constexpr double chart_h = 120, plot_top = 14, plot_bottom = 104;
constexpr double wide_chart = 720, narrow_chart = 360;

struct time_axis {
  std::int64_t from_ms, to_ms;
  double width;
  double x(std::int64_t ms) const {
    return width * static_cast<double>(std::clamp(ms, from_ms, to_ms) - from_ms) / static_cast<double>(to_ms - from_ms);
  }
};

// One chart of a range: a line per bucket value `of` (NaN: a gap), an
// optional band between `low` and `high`, failed runs as red bars along
// the bottom, incidents as shaded spans.
template <class Value>
std::string chart_svg(const history_range& r, const std::vector<incident>& incidents, const std::string& title,
                      const Value& of, const history_key* unit_key, bool with_band, bool with_failures,
                      double chart_w) {
  const time_axis axis{unix_ms(r.end - r.range), unix_ms(r.end), chart_w};
  const auto step_ms = r.step.count() * 1000;
  double top = 0;
  bool any = false;
  for (const auto& b : r.buckets) {
    const auto [lo, mid, hi] = of(b);
    if (std::isfinite(mid)) any = true;
    for (double v : {lo, mid, hi})
      if (std::isfinite(v)) top = std::max(top, v);
  }
  if (!any && !with_failures) return "";
  const auto y = [&](double v) { return top > 0 ? plot_bottom - (plot_bottom - plot_top) * v / top : plot_bottom; };
  std::ostringstream out;
  out << "<figure class=\"chart\"><figcaption>" << html_escape(title) << "</figcaption><svg class=\"chart\" viewBox=\"0 0 "
      << chart_w << " " << chart_h << "\" role=\"img\" aria-label=\"" << html_escape(title)
      << "\">";
  out << "<rect class=\"plot\" x=\"0\" y=\"" << plot_top << "\" width=\"" << chart_w << "\" height=\""
      << plot_bottom - plot_top << "\"/>";
  for (const auto& i : incidents) {
    const auto start = unix_ms(i.started);
    const auto end = i.resolved ? unix_ms(*i.resolved) : axis.to_ms;
    if (end < axis.from_ms || start > axis.to_ms) continue;
    const double x0 = axis.x(start), x1 = std::max(axis.x(end), x0 + 2);
    out << "<rect class=\"incident\" data-incident=\"" << i.id << "\" x=\"" << num(x0) << "\" y=\"0\" width=\""
        << num(x1 - x0) << "\" height=\"" << plot_bottom << "\"><title>#" << i.id << " " << html_escape(i.alertname)
        << ", " << clock_text(start, true) << " – " << (i.resolved ? clock_text(end, true) : std::string("now"))
        << " UTC</title></rect>";
  }
  if (with_band) {
    std::string upper, lower;
    for (const auto& b : r.buckets) {
      const auto [lo, mid, hi] = of(b);
      if (!std::isfinite(lo) || !std::isfinite(hi)) continue;
      const double x = axis.x(b.start_ms + step_ms / 2);
      upper += num(x) + "," + num(y(hi)) + " ";
      lower = num(x) + "," + num(y(lo)) + " " + lower;
    }
    if (!upper.empty()) out << "<polygon class=\"band\" points=\"" << upper << lower << "\"/>";
  }
  // The line, broken where a bucket has no value.
  std::string line;
  const auto flush = [&] {
    if (line.find(' ') != std::string::npos) out << "<polyline class=\"line\" points=\"" << line << "\"/>";
    else if (!line.empty()) {
      const auto comma = line.find(',');
      out << "<circle class=\"dot\" cx=\"" << line.substr(0, comma) << "\" cy=\"" << line.substr(comma + 1)
          << "\" r=\"1.5\"/>";
    }
    line.clear();
  };
  std::int64_t expected = 0;
  for (const auto& b : r.buckets) {
    const auto [lo, mid, hi] = of(b);
    if (!std::isfinite(mid) || (expected && b.start_ms != expected)) flush();
    expected = b.start_ms + step_ms;
    if (!std::isfinite(mid)) continue;
    line += (line.empty() ? "" : " ") + num(axis.x(b.start_ms + step_ms / 2)) + "," + num(y(mid));
  }
  flush();
  if (with_failures) {
    for (const auto& b : r.buckets) {
      const auto bad = b.failed + b.timed_out;
      if (!bad) continue;
      const double x0 = axis.x(b.start_ms), x1 = std::max(axis.x(b.start_ms + step_ms), x0 + 1.5);
      out << "<rect class=\"failures\" x=\"" << num(x0) << "\" y=\"" << plot_bottom + 2 << "\" width=\""
          << num(x1 - x0) << "\" height=\"10\"><title>" << clock_text(b.start_ms, true) << " UTC: " << bad << " of "
          << b.runs << " runs failed</title></rect>";
    }
  }
  const std::string top_text = unit_key ? key_text(*unit_key, top) : format_seconds(top);
  out << "<text class=\"axis\" x=\"2\" y=\"10\">" << html_escape(top_text) << "</text>"
      << "<text class=\"axis\" x=\"2\" y=\"" << chart_h - 1 << "\">" << clock_text(axis.from_ms, true) << "</text>"
      << "<text class=\"axis end\" x=\"" << chart_w - 2 << "\" y=\"" << chart_h - 1 << "\">"
      << clock_text(axis.to_ms, true) << " UTC</text></svg></figure>";
  return out.str();
}

// "1h", "24h", "7d", "10m": as the range would be asked for.
std::string range_name(std::chrono::seconds range) {
  const auto s = range.count();
  if (s % 86400 == 0 && s > 86400) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  return format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(range));
}

}  // namespace

std::string probe_page_html(const probe_page& page) {
  const auto& p = page.probe;
  const auto& v = page.history;
  const std::string state = !p.up ? "unknown" : *p.up ? "up" : "down";
  std::ostringstream out;
  out << "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      << "<title>" << (state == "down" ? "✗ " : "") << html_escape(p.settings.name) << " — vitals — "
      << html_escape(page.host) << "</title><link rel=\"stylesheet\" href=\"" << status_asset_url("/static/status.css")
      << "\"></head><body class=\"probe-page\"><header><h1><a href=\"/\">vitals</a> — " << html_escape(p.settings.name)
      << "</h1><span class=\"badge " << state << "\">" << state << "</span><span class=\"summary\">"
      << html_escape(p.settings.type) << " · " << html_escape(p.target) << " · every "
      << format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(p.settings.interval))
      << "</span></header>";

  out << "<section id=\"now\"><h2>Now</h2>";
  if (p.last) {
    const auto& r = p.last->result;
    out << "<p>" << short_duration(page.now - p.last->finished_at) << " ago, took "
        << format_seconds(p.last->duration_seconds) << ". ";
    if (!r.ok)
      out << "<span class=\"cause bad\">" << html_escape(r.error) << "</span> <span class=\"muted\">["
          << html_escape(r.reason) << "]</span>";
    out << "</p>";
    if (!r.evidence.empty()) {
      out << "<dl class=\"evidence\">";
      for (const auto& [k, val] : r.evidence) out << "<dt>" << html_escape(k) << "</dt><dd>" << html_escape(val) << "</dd>";
      out << "</dl>";
    }
  } else {
    out << "<p class=\"muted\">Not run yet.</p>";
  }
  out << "<div class=\"keys\">" << key_numbers_cell(v) << "</div>" << uptime_cell(v) << "</section>";

  out << "<section id=\"runs\"><h2>Last " << v.runs.size() << " runs</h2>"
      << run_strip_svg(v.runs, probe_history::recent_runs_kept) << "</section>";

  const auto keys = history_keys(v.kind);
  for (const auto& r : page.ranges) {
    const auto name = range_name(r.range);
    out << "<section class=\"range\" id=\"range-" << name << "\"><h2>Last " << name << " <span class=\"muted\">("
        << range_name(r.step) << " steps)</span></h2>";
    if (!r.complete)
      out << "<p class=\"bad\">The state store could not be read: " << html_escape(r.problem)
          << "; only what is still in memory is shown.</p>";
    out << chart_svg(
        r, page.incidents, "response time: average, min–max band; failed runs in red",
        [](const history_bucket& b) {
          if (!b.runs) return std::array<double, 3>{NAN, NAN, NAN};
          return std::array<double, 3>{b.duration_min, b.duration_sum / b.runs, b.duration_max};
        },
        nullptr, true, true, wide_chart);
    if (!keys.empty()) {
      out << "<div class=\"key-charts\">";
      for (std::size_t k = 0; k < keys.size(); ++k)
        out << chart_svg(
            r, page.incidents, std::string(keys[k].title),
            [k](const history_bucket& b) { return std::array<double, 3>{NAN, b.keys[k], NAN}; }, &keys[k], false,
            false, narrow_chart);
      out << "</div>";
    }
    out << "</section>";
  }

  out << "<section id=\"incidents\"><h2>Incidents</h2>";
  if (page.incidents.empty()) {
    out << "<p class=\"muted\">None recorded for this probe.</p>";
  } else {
    out << "<table><thead><tr><th>state</th><th>#</th><th>alert</th><th>started</th><th>lasted</th><th>summary</th>"
           "</tr></thead><tbody>";
    for (auto it = page.incidents.rbegin(); it != page.incidents.rend(); ++it) {
      const auto& i = *it;
      out << "<tr class=\"incident\" data-incident=\"" << i.id << "\"><td data-label=\"state\"><span class=\"badge "
          << (i.resolved ? "resolved\">resolved" : "firing\">firing") << "</span></td><td data-label=\"#\">" << i.id
          << "</td><td data-label=\"alert\">" << html_escape(i.alertname) << "</td><td data-label=\"started\">"
          << rfc3339(i.started) << "</td><td data-label=\"lasted\">"
          << short_duration(i.resolved.value_or(page.now) - i.started) << "</td><td data-label=\"summary\">"
          << html_escape(i.summary);
      out << evidence_at_firing_html(i) << "</td></tr>";
    }
    out << "</tbody></table>";
  }
  out << "</section><footer><a href=\"/\">all probes</a> · <a href=\"/api/v1"
      << html_escape(probe_page_path(p.settings.name)) << "/history?range=24h\">history as JSON</a><span id=\"refresh\"></span>"
      << "</footer><script src=\"" << status_asset_url("/static/status.js") << "\"></script></body></html>";
  auto text = out.str();
  make_valid_utf8(text);
  return text;
}

}  // namespace vitals
