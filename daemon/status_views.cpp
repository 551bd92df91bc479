#include "daemon/status_views.hpp"

#include "daemon/time_format.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cmath>
#include <ctime>
#include <sstream>

namespace vitals {

namespace json = boost::json;

namespace {

std::string state_of(const probe_status& p) {
  if (!p.up) return "unknown";
  return *p.up ? "up" : "down";
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string probes_json(const std::vector<probe_status>& probes) {
  json::array items;
  for (const auto& p : probes) {
    json::object o;
    o["name"] = p.settings.name;
    o["kind"] = p.settings.type;
    o["target"] = p.target;
    o["state"] = state_of(p);
    o["interval_seconds"] = std::chrono::duration<double>(p.settings.interval).count();
    o["timeout_seconds"] = std::chrono::duration<double>(p.settings.timeout).count();
    o["in_flight"] = p.in_flight;
    o["runs"] = json::object{{"ok", p.runs_ok},
                             {"fail", p.runs_failed},
                             {"timeout", p.runs_timed_out},
                             {"skipped", p.runs_skipped}};
    if (p.last) {
      const auto& r = p.last->result;
      json::object last;
      last["success"] = r.ok;
      last["finished_at"] = rfc3339(p.last->finished_at);
      last["duration_seconds"] = p.last->duration_seconds;
      last["error"] = r.error;
      last["reason"] = r.reason;
      json::object evidence;
      for (const auto& [k, v] : r.evidence) evidence[k] = v;
      last["evidence"] = std::move(evidence);
      o["last"] = std::move(last);
    } else {
      o["last"] = nullptr;
    }
    items.push_back(std::move(o));
  }
  return json::serialize(json::object{{"probes", std::move(items)}});
}

std::string alerts_json(const std::vector<alerts::alert_instance>& active) {
  json::array items;
  for (const auto& a : active) {
    json::object o;
    o["alertname"] = a.rule;
    o["state"] = a.state == alerts::alert_state::firing ? "firing" : "pending";
    json::object labels;
    for (const auto& [k, v] : a.label_values) labels[k] = v;
    o["labels"] = std::move(labels);
    o["value"] = std::isfinite(a.value) ? json::value(a.value) : json::value(nullptr);
    o["active_since"] = rfc3339(a.active_since);
    o["firing_since"] = a.state == alerts::alert_state::firing ? json::value(rfc3339(a.fired_at)) : json::value(nullptr);
    o["summary"] = a.summary;
    o["description"] = a.description;
    o["runbook_url"] = a.runbook_url;
    items.push_back(std::move(o));
  }
  return json::serialize(json::object{{"alerts", std::move(items)}});
}

std::string status_page_html(const std::vector<probe_status>& probes) {
  std::ostringstream out;
  int down = 0;
  for (const auto& p : probes) down += (p.up && !*p.up) ? 1 : 0;
  out << "<!doctype html><html><head><meta charset=\"utf-8\"><title>vitals</title>"
         "<meta http-equiv=\"refresh\" content=\"10\">"
         "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
         "td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
         ".up{color:#1a7f37}.down{color:#cf222e}.unknown{color:#777}small{color:#555}</style></head><body>"
      << "<h1>vitals</h1><p>" << probes.size() << " probes, " << down << " down</p>"
      << "<table><tr><th>state</th><th>probe</th><th>kind</th><th>target</th><th>last run</th><th>cause</th></tr>";
  for (const auto& p : probes) {
    const auto state = state_of(p);
    out << "<tr><td class=\"" << state << "\">" << state << "</td><td>" << html_escape(p.settings.name)
        << "</td><td>" << html_escape(p.settings.type) << "</td><td>" << html_escape(p.target) << "</td><td>";
    if (p.last) {
      out << rfc3339(p.last->finished_at) << " <small>(" << static_cast<int>(p.last->duration_seconds * 1000)
          << " ms)</small></td><td>" << html_escape(p.last->result.error);
      for (const auto& [k, v] : p.last->result.evidence)
        out << "<br><small>" << html_escape(k) << ": " << html_escape(v) << "</small>";
    } else {
      out << "not yet</td><td>";
    }
    out << "</td></tr>";
  }
  out << "</table><p><a href=\"/metrics\">/metrics</a> · <a href=\"/api/v1/probes\">/api/v1/probes</a></p>"
         "</body></html>";
  return out.str();
}

}  // namespace vitals
