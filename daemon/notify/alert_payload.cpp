#include "daemon/notify/alert_payload.hpp"

#include "probes/core/time_format.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <utility>

namespace vitals {

namespace {

// A body as sent: valid UTF-8 whatever its labels and evidence quote (a
// process name, a target's answer), since Alertmanager refuses a whole batch
// over one ill-formed label value. JSON's structure is ASCII and an
// ill-formed subpart never swallows an ASCII byte, so only strings change.
std::string valid_body(boost::json::value body) {
  auto text = boost::json::serialize(body);
  make_valid_utf8(text);
  return text;
}

boost::json::object alert_json(const outgoing_alert& o, const alert_sender& from) {
  // Rules and results are redacted where they enter the daemon; this is
  // the last door before a receiver, so it checks once more.
  const auto shown = [&](const std::string& text) { return from.secrets.redacted(text); };
  boost::json::object labels;
  for (const auto& [k, v] : o.alert.label_values) labels[k] = shown(v);
  labels["instance"] = from.instance;
  boost::json::object annotations;
  if (!o.alert.summary.empty()) annotations["summary"] = shown(o.alert.summary);
  if (!o.alert.description.empty()) annotations["description"] = shown(o.alert.description);
  if (!o.alert.runbook_url.empty()) annotations["runbook_url"] = shown(o.alert.runbook_url);
  if (!o.alert.evidence.empty()) annotations["evidence"] = shown(o.alert.evidence);
  boost::json::object a;
  a["labels"] = std::move(labels);
  a["annotations"] = std::move(annotations);
  a["startsAt"] = rfc3339(o.alert.fired_at);
  a["endsAt"] = rfc3339(o.ends_at);
  a["generatorURL"] = from.generator_url;
  return a;
}

}  // namespace

std::string alertmanager_body(const std::vector<outgoing_alert>& batch, const alert_sender& from) {
  boost::json::array out;
  for (const auto& o : batch) out.push_back(alert_json(o, from));
  return valid_body(std::move(out));
}

std::string webhook_body(const std::vector<outgoing_alert>& batch, const alert_sender& from) {
  boost::json::array list;
  bool any_firing = false;
  for (const auto& o : batch) {
    auto a = alert_json(o, from);
    a["status"] = o.resolved ? "resolved" : "firing";
    any_firing = any_firing || !o.resolved;
    list.push_back(std::move(a));
  }
  boost::json::object body;
  body["version"] = "4";
  body["receiver"] = "vitals";
  body["status"] = any_firing ? "firing" : "resolved";
  body["groupKey"] = "vitalsd:" + from.instance;
  body["groupLabels"] = boost::json::object{};
  body["commonLabels"] = boost::json::object{{"instance", from.instance}};
  body["commonAnnotations"] = boost::json::object{};
  body["externalURL"] = from.generator_url;
  body["alerts"] = std::move(list);
  return valid_body(std::move(body));
}

std::string alertmanager_alerts_target(std::string base_path) {
  // A query (a proxy's token) stays after the path it belongs to.
  std::string query;
  if (const auto at = base_path.find('?'); at != std::string::npos) {
    query = base_path.substr(at);
    base_path.resize(at);
  }
  while (!base_path.empty() && base_path.back() == '/') base_path.pop_back();
  return base_path + "/api/v2/alerts" + query;
}

}  // namespace vitals
