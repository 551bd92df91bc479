#include "daemon/server/status_views.hpp"

#include "daemon/server/history_views.hpp"
#include "daemon/server/html_text.hpp"
#include "daemon/server/status_assets.hpp"
#include "probes/core/time_format.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace vitals {

namespace json = boost::json;

namespace {

// A view as sent: valid UTF-8 whatever the texts in it quote. Their
// structure is ASCII and an ill-formed subpart never swallows an ASCII
// byte, so replacing in the whole document replaces inside strings only.
std::string valid_document(std::string text) {
  make_valid_utf8(text);
  return text;
}

std::string state_of(const probe_status& p) {
  if (!p.up) return "unknown";
  return *p.up ? "up" : "down";
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
  return valid_document(json::serialize(json::object{{"probes", std::move(items)}}));
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
  return valid_document(json::serialize(json::object{{"alerts", std::move(items)}}));
}

std::vector<incident> valid_utf8_incidents(std::vector<incident> list) {
  for (auto& i : list) {
    for (auto* text : {&i.alertname, &i.severity, &i.summary, &i.runbook_url, &i.evidence_json})
      make_valid_utf8(*text);
    alerts::labels labels;
    for (const auto& [k, v] : i.labels) labels.emplace(valid_utf8(k), valid_utf8(v));
    i.labels = std::move(labels);
  }
  return list;
}

namespace {

// A link only for schemes a runbook can have, or a path on this daemon
// ("/runbooks/ProbeDown"); anything else is shown as text.
std::string runbook_link(const std::string& url) {
  if (url.empty()) return "";
  const bool linkable = url.starts_with("https://") || url.starts_with("http://") || url.starts_with("file://") ||
                        url.starts_with("/");
  if (!linkable) return html_escape(url);
  return "<a class=\"runbook\" href=\"" + html_escape(url) + "\">runbook</a>";
}

template <class Items>
void evidence_details(std::ostringstream& out, const Items& items, const char* what = "evidence") {
  if (items.empty()) return;
  out << "<details><summary>" << what << "</summary><dl>";
  for (const auto& [k, v] : items) out << "<dt>" << html_escape(k) << "</dt><dd>" << html_escape(v) << "</dd>";
  out << "</dl></details>";
}

}  // namespace

std::string evidence_at_firing_html(const incident& i) {
  std::vector<std::pair<std::string, std::string>> items;
  boost::system::error_code ec;
  const auto ev = json::parse(valid_utf8(i.evidence_json), ec);  // rows stored raw by earlier versions
  if (!ec && ev.is_object()) {
    const auto& o = ev.as_object();
    if (const auto* c = o.if_contains("cause"); c && c->is_string() && !c->as_string().empty())
      items.emplace_back("cause", std::string(c->as_string()));
    if (const auto* e = o.if_contains("evidence"); e && e->is_object())
      for (const auto& [k, v] : e->as_object())
        if (v.is_string()) items.emplace_back(std::string(k), std::string(v.as_string()));
  }
  std::ostringstream out;
  evidence_details(out, items, "evidence at firing");
  return out.str();
}

std::string status_page_html(const status_page& page) {
  const auto now = page.now;
  int down = 0, unknown = 0, firing = 0, pending = 0;
  for (const auto& p : page.probes) {
    if (!p.up) ++unknown;
    else if (!*p.up) ++down;
  }
  for (const auto& a : page.alerts) ++(a.state == alerts::alert_state::firing ? firing : pending);

  std::ostringstream out;
  out << "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      << "<title>" << (down || firing ? "✗ " : "") << "vitals — " << html_escape(page.host) << "</title>"
      << "<link rel=\"stylesheet\" href=\"" << status_asset_url("/static/status.css") << "\"></head><body>"
      << "<header><h1>vitals — " << html_escape(page.host) << "</h1><span class=\"summary\">"
      << page.probes.size() << " probes, " << (down ? "<b class=\"bad\">" : "<b>") << down << " down</b>";
  if (unknown) out << ", " << unknown << " not run yet";
  out << " · " << (firing ? "<b class=\"bad\">" : "<b>") << firing << " firing</b>, " << pending << " pending"
      << " · " << rfc3339(now) << "</span></header>";

  out << "<section id=\"alerts\"><h2>Alerts</h2>";
  if (page.alerts.empty()) {
    out << "<p class=\"muted\">No alert is pending or firing.</p>";
  } else {
    out << "<table><thead><tr><th>state</th><th>alert</th><th>severity</th><th>probe</th><th>since</th>"
           "<th>summary</th><th>runbook</th></tr></thead><tbody>";
    auto sorted = page.alerts;
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.state == alerts::alert_state::firing && b.state != alerts::alert_state::firing;
    });
    for (const auto& a : sorted) {
      const bool is_firing = a.state == alerts::alert_state::firing;
      const auto label = [&](const char* k) {
        const auto it = a.label_values.find(k);
        return it == a.label_values.end() ? std::string() : it->second;
      };
      out << "<tr class=\"alert " << (is_firing ? "firing" : "pending") << "\">"
          << "<td data-label=\"state\"><span class=\"badge " << (is_firing ? "firing" : "pending") << "\">"
          << (is_firing ? "firing" : "pending") << "</span></td>"
          << "<td data-label=\"alert\"><b>" << html_escape(a.rule) << "</b></td>"
          << "<td data-label=\"severity\">" << html_escape(label("severity")) << "</td>"
          << "<td data-label=\"probe\">" << html_escape(label("probe")) << "</td>"
          << "<td data-label=\"since\">" << short_duration(now - (is_firing ? a.fired_at : a.active_since)) << "</td>"
          << "<td data-label=\"summary\">" << html_escape(a.summary);
      if (!a.evidence.empty()) {
        std::vector<std::pair<std::string, std::string>> lines;
        std::istringstream in(a.evidence);
        for (std::string line; std::getline(in, line);) {
          const auto colon = line.find(": ");
          if (colon == std::string::npos) lines.emplace_back("", line);
          else lines.emplace_back(line.substr(0, colon), line.substr(colon + 2));
        }
        evidence_details(out, lines);
      }
      out << "</td><td data-label=\"runbook\">" << runbook_link(a.runbook_url) << "</td></tr>";
    }
    out << "</tbody></table>";
  }
  out << "</section>";

  out << "<section id=\"probes\"><h2>Probes</h2><table><thead><tr><th>state</th><th>probe</th>"
         "<th>target</th><th>last runs</th><th>uptime</th><th>last run</th><th>numbers</th>"
         "<th>cause</th></tr></thead><tbody>";
  auto probes = page.probes;
  // Down first, then not yet run, then up; by name within each.
  const auto rank = [](const probe_status& p) { return !p.up ? 1 : *p.up ? 2 : 0; };
  std::stable_sort(probes.begin(), probes.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  for (const auto& p : probes) {
    const auto state = state_of(p);
    out << "<tr class=\"probe " << state << "\" data-probe=\"" << html_escape(p.settings.name) << "\">"
        << "<td data-label=\"state\"><span class=\"badge " << state << "\">" << state << "</span></td>"
        << "<td data-label=\"probe\"><a class=\"probe-link\" href=\"" << html_escape(probe_page_path(p.settings.name))
        << "\"><b>" << html_escape(p.settings.name) << "</b></a> <span class=\"kind muted\">"
        << html_escape(p.settings.type) << "</span></td>"
        << "<td class=\"target\" data-label=\"target\">" << html_escape(p.target) << "</td>";
    const auto h = page.history.find(p.settings.name);
    if (h != page.history.end())
      out << "<td class=\"history\" data-label=\"last runs\">" << history_cell(h->second)
          << "</td><td data-label=\"uptime\">" << uptime_cell(h->second) << "</td>";
    else
      out << "<td class=\"history\"></td><td></td>";
    if (p.last) {
      const auto& r = p.last->result;
      char took[32];
      std::snprintf(took, sizeof took, "%.1f ms", p.last->duration_seconds * 1000);
      out << "<td data-label=\"last run\">" << short_duration(now - p.last->finished_at) << " ago, took "
          << took << "</td><td class=\"numbers\" data-label=\"numbers\">"
          << (h != page.history.end() ? key_numbers_cell(h->second) : std::string())
          << "</td><td class=\"cause\" data-label=\"cause\">"
          << html_escape(r.error);
      if (!r.reason.empty() && !r.ok) out << " <span class=\"muted\">[" << html_escape(r.reason) << "]</span>";
      evidence_details(out, r.evidence);
      out << "</td>";
    } else {
      out << "<td data-label=\"last run\" class=\"muted\">not yet</td><td class=\"numbers\"></td>"
             "<td class=\"cause\"></td>";
    }
    out << "</tr>";
  }
  out << "</tbody></table></section>";

  out << "<section id=\"incidents\"><h2>Recent incidents</h2>";
  if (page.incidents.empty()) {
    out << "<p class=\"muted\">None recorded.</p>";
  } else {
    out << "<table><thead><tr><th>state</th><th>#</th><th>alert</th><th>probe</th><th>started</th>"
           "<th>lasted</th><th>summary</th></tr></thead><tbody>";
    for (auto it = page.incidents.rbegin(); it != page.incidents.rend(); ++it) {
      const auto& i = *it;
      const auto probe = i.labels.find("probe");
      out << "<tr class=\"incident\"><td data-label=\"state\"><span class=\"badge "
          << (i.resolved ? "resolved\">resolved" : "firing\">firing") << "</span></td>"
          << "<td data-label=\"#\">" << i.id << "</td>"
          << "<td data-label=\"alert\">" << html_escape(i.alertname) << " <span class=\"muted\">"
          << html_escape(i.severity) << "</span></td>"
          << "<td data-label=\"probe\">" << (probe == i.labels.end() ? "" : html_escape(probe->second)) << "</td>"
          << "<td data-label=\"started\">" << rfc3339(i.started) << "</td>"
          << "<td data-label=\"lasted\">" << short_duration(i.resolved.value_or(now) - i.started) << "</td>"
          << "<td data-label=\"summary\">" << html_escape(i.summary);
      out << evidence_at_firing_html(i);
      out << " " << runbook_link(i.runbook_url) << "</td></tr>";
    }
    out << "</tbody></table>";
  }
  out << "</section><footer><a href=\"/metrics\">/metrics</a> · <a href=\"/api/v1/probes\">/api/v1/probes</a> · "
         "<a href=\"/api/v1/alerts\">/api/v1/alerts</a> · <a href=\"/api/v1/incidents\">/api/v1/incidents</a>"
         "<span id=\"refresh\"></span></footer><script src=\""
      << status_asset_url("/static/status.js") << "\"></script></body></html>";
  return valid_document(out.str());
}

}  // namespace vitals
