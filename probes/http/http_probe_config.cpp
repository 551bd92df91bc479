// `type: http` settings: what create() reads and checks (docs/probes/http.md).
#include "probes/http/http_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/proc_text.hpp"
#include "probes/core/units.hpp"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace vitals {

namespace {
constexpr int max_redirects_allowed = 10;  // follow_redirects: N
}  // namespace

std::optional<status_range> parse_status_range(const std::string& text) {
  int a = 0, b = 0;
  if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && (text.substr(1) == "xx" || text.substr(1) == "XX"))
    return status_range{(text[0] - '0') * 100, (text[0] - '0') * 100 + 99};
  if (const auto dash = text.find('-'); dash != std::string::npos) {
    if (!parse_int(std::string_view(text).substr(0, dash), a) || !parse_int(std::string_view(text).substr(dash + 1), b))
      return std::nullopt;
  } else {
    if (!parse_int(text, a)) return std::nullopt;
    b = a;
  }
  if (a < 100 || b > 599 || a > b) return std::nullopt;
  return status_range{a, b};
}

namespace {

// `max_response_seconds`: seconds (2, 0.5) or a duration (2s, 500ms); more
// than zero.
std::optional<std::chrono::milliseconds> seconds_or_duration(const std::string& text) {
  std::optional<std::chrono::milliseconds> d;
  try {
    std::size_t used = 0;
    const double seconds = std::stod(text, &used);
    if (used == text.size() && seconds > 0) d = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  } catch (const std::exception&) {
  }
  if (!d) d = parse_duration(text);
  if (!d || d->count() <= 0) return std::nullopt;
  return d;
}

}  // namespace

probe_builder http_probe::create(const probe_settings& common, node_reader& r) {
  settings s;
  s.timeout = common.timeout;
  read_web_url(r, false, s.url);
  r.read("method", s.method, {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"});
  read_headers(r, s.headers, false);
  r.read("body", s.body);
  read_tls_settings(r, s.tls);

  // true (5 hops), false, or how many.
  if (r.has("follow_redirects")) {
    const YAML::Node follow = r.node()["follow_redirects"];
    if (follow.IsScalar() && (follow.Scalar() == "true" || follow.Scalar() == "false"))
      s.max_redirects = follow.Scalar() == "true" ? 5 : 0;
    else
      r.read("follow_redirects", s.max_redirects, between{0, max_redirects_allowed});
  }

  // A status, a class (2xx), a range (200-299), or a list of them.
  if (r.has("expect_status")) {
    const YAML::Node node = r.node()["expect_status"];
    std::vector<YAML::Node> items;
    if (node.IsSequence()) {
      for (const auto& item : node) items.push_back(item);
    } else if (node.IsScalar()) {
      items.push_back(node);
    }
    s.expect_status.clear();
    for (const auto& item : items) {
      if (auto range = parse_status_range(item.IsScalar() ? item.Scalar() : std::string())) {
        s.expect_status.push_back(*range);
      } else {
        // shown_value: a status written as ${env:…} is a secret like any other value.
        r.error("expect_status", r.shown_value(item) + " is not a status, a class like 2xx, or a range like 200-299");
        break;
      }
    }
    if (items.empty()) r.error("expect_status", "expected a status, a class like 2xx, or a list of them");
  }

  read_expected_json(r, "expect_json", s.expect_json);
  read_regex(r, "expect_body_regex", s.expect_body_regex, s.body_regex);

  if (r.has("max_response_seconds")) {
    const YAML::Node node = r.node()["max_response_seconds"];
    const std::string text = node.IsScalar() ? node.Scalar() : std::string();
    const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(common.timeout);
    if (const auto d = seconds_or_duration(text); !d)
      r.error("max_response_seconds",
              "expected seconds (2, 0.5) or a duration (2s, 500ms), got " + r.shown("max_response_seconds"));
    else if (*d >= timeout)
      r.error("max_response_seconds", format_duration(*d) + " must be shorter than timeout " + format_duration(timeout));
    else
      s.max_response = *d;
  }

  // field label: JSON path
  if (auto m = r.map("extract")) {
    for (const auto& kv : m->node()) {
      const std::string field = kv.first.Scalar();
      if (std::string text; m->read_required(field, text)) {
        if (auto path = parse_json_path(text))
          s.extract.emplace_back(field, std::move(*path));
        else
          r.error("extract", m->shown(field) + " is not a JSON path like .metrics.totalErrors or .items[0].count");
      }
    }
  }
  r.read_size("max_body_bytes", s.max_body_bytes);

  if (r.failed()) return {};
  return [s = std::move(s)](const probe_context& ctx) { return std::make_unique<http_probe>(s, ctx); };
}

}  // namespace vitals
