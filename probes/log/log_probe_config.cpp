// `type: log` settings: what create() reads and checks (docs/probes/log.md).
#include "probes/log/log_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/valid_text.hpp"

#include <algorithm>
#include <set>

namespace vitals {

namespace {

constexpr std::size_t max_patterns = 64;
constexpr std::size_t max_name_bytes = 64;
constexpr std::size_t max_conditions = 16;
constexpr std::uint64_t min_read_per_run = 64 * 1024;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == ':' || c == '-';
}

std::string name_problem(const std::string& name, const std::string& shown) {
  if (name.empty()) return "is empty; expected a name like error";
  if (name.size() > max_name_bytes) return shown + " is longer than " + std::to_string(max_name_bytes) + " characters";
  if (!std::all_of(name.begin(), name.end(), is_name_char)) return shown + " may hold only letters, digits and _ . : -";
  // The probe's own evidence keys: a pattern of the same name would hide them.
  for (const char* reserved : {"following", "read", "rotated", "skipped"})
    if (name == reserved) return shown + " is a name the probe's evidence uses; choose another";
  return {};
}

// A scalar's text for a condition: YAML's null (`~`, `null`, nothing) is JSON's.
std::string scalar_text(const YAML::Node& v) { return v.IsNull() ? "null" : v.Scalar(); }

// `level: [error, fatal]`: equal to any of them.
void read_any_of(node_reader& json, const std::string& field, const json_field_path& path,
                 std::vector<json_condition>& out) {
  json_condition c{path, json_condition::op::eq, {}};
  for (const auto& item : json.node()[field]) {
    if (!item.IsNull() && !item.IsScalar()) {
      json.error(field, "expected a list of values to compare with");
      return;
    }
    c.values.push_back(scalar_text(item));
  }
  if (c.values.empty())
    json.error(field, "an empty list matches nothing");
  else
    out.push_back(std::move(c));
}

// `level: {gte: 50}`, `trace_id: {exists: true}`: one condition per key.
void read_comparisons(node_reader& ops, const json_field_path& path, std::vector<json_condition>& out) {
  for (const auto& kv : ops.node()) {
    const std::string name = kv.first.Scalar();
    const auto how = parse_condition_op(name);
    if (!how) {
      ops.error(name, "\"" + printable(name) + "\" is not a comparison (eq, ne, gt, gte, lt, lte, exists)");
      continue;
    }
    ops.known({name});
    json_condition c{path, *how, {}};
    if (*how == json_condition::op::exists) {
      if (!ops.read_required(name, c.present)) continue;
    } else if (*how == json_condition::op::eq || *how == json_condition::op::ne) {
      if (!kv.second.IsNull() && !kv.second.IsScalar()) {
        ops.error(name, "expected a value to compare with");
        continue;
      }
      c.values.push_back(scalar_text(kv.second));
    } else if (!ops.read_required(name, c.number)) {
      continue;
    }
    out.push_back(std::move(c));
  }
}

// One field's conditions: `level: error`, a list, or comparisons.
void read_field(node_reader& json, const std::string& field, std::vector<json_condition>& out) {
  const auto path = parse_field_path(field);
  const YAML::Node v = json.node()[field];
  if (!path)
    json.error(field, "\"" + printable(field) + "\" is not a field path like level or err.code");
  else if (v.IsNull() || v.IsScalar())
    out.push_back({*path, json_condition::op::eq, {scalar_text(v)}});
  else if (v.IsSequence())
    read_any_of(json, field, *path, out);
  else if (auto ops = json.map(field))
    read_comparisons(*ops, *path, out);
}

std::optional<log_pattern> read_pattern(node_reader& item, std::set<std::string>& names) {
  log_pattern_spec spec;
  item.read_required("name", spec.name, name_problem);
  if (!spec.name.empty() && !names.insert(spec.name).second)
    item.error("name", "\"" + printable(spec.name) + "\" is already the name of another pattern");
  item.read("regex", spec.regex, [](const std::string& re) { return re.empty() ? "is empty" : ""; });
  if (auto json = item.map("json")) {
    for (const auto& kv : json->node()) {
      json->known({kv.first.Scalar()});
      read_field(*json, kv.first.Scalar(), spec.json);
    }
    if (spec.json.empty() && !json->failed()) item.error("json", "needs at least one field condition");
    if (spec.json.size() > max_conditions)
      item.error("json", "more than " + std::to_string(max_conditions) + " conditions");
  }
  item.read("group_by", spec.group_by);
  item.finish();
  if (item.failed()) return std::nullopt;
  std::string why;
  std::string key;
  auto compiled = log_pattern::compile(std::move(spec), why, key);
  if (!compiled && key.empty())
    item.error_here(why);
  else if (!compiled && key == "regex")
    item.error(key, item.shown(key) + " is not a valid regular expression: " + why);
  else if (!compiled)
    item.error(key, why);
  return compiled;
}

void read_patterns(node_reader& r, log_probe_settings& s) {
  if (!r.require("patterns")) return;
  auto items = r.sequence("patterns");
  if (!items) return;
  if (items->empty() || items->size() > max_patterns) {
    r.error("patterns",
            items->empty() ? "needs at least one pattern" : "more than " + std::to_string(max_patterns) + " patterns");
    return;
  }
  std::vector<log_pattern> patterns;
  std::set<std::string> names;
  for (auto& item : *items) {
    if (!item.is_map()) {
      item.error_here("expected a pattern like {name: error, regex: ERROR}");
      continue;
    }
    if (auto p = read_pattern(item, names)) patterns.push_back(std::move(*p));
  }
  if (!r.failed()) s.patterns = std::make_shared<const log_pattern_set>(std::move(patterns));
}

void read_journal(node_reader& j, log_probe_settings& s) {
  s.source = log_probe_settings::source_kind::journal;
  j.read("unit", s.unit, [](const std::string& v) { return v.empty() ? "is empty" : ""; });
  j.read("identifier", s.identifier, [](const std::string& v) { return v.empty() ? "is empty" : ""; });
  j.read("directory", s.journal_directory, absolute_path{});
  if (!s.unit.empty() && !s.identifier.empty())
    j.error("identifier", "set either unit or identifier, not both");
  else if (s.unit.empty() && s.identifier.empty() && !j.failed())
    j.error_here("needs a unit or an identifier");
  j.finish();
}

void read_docker(node_reader& d, log_probe_settings& s) {
  s.source = log_probe_settings::source_kind::docker;
  d.read_required("container", s.container, [](const std::string& name) {
    // Docker's own rule for names; a slash would reach outside the root.
    const bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
             c == '-';
    });
    return ok ? "" : "is not a container name (letters, digits and _ . -)";
  });
  d.read("root", s.docker_root, absolute_path{});
  d.finish();
}

void read_source(node_reader& r, log_probe_settings& s) {
  const int sources = (r.has("path") ? 1 : 0) + (r.has("journal") ? 1 : 0) + (r.has("docker") ? 1 : 0);
  if (sources != 1) {
    r.known({"path", "journal", "docker"});
    r.error_here(sources == 0 ? "needs a source: path, journal or docker" : "set only one of path, journal and docker");
    return;
  }
  r.read("path", s.path, absolute_path{"the daemon's working directory is not yours"});
  if (auto j = r.map("journal")) read_journal(*j, s);
  if (auto d = r.map("docker")) read_docker(*d, s);
}

}  // namespace

probe_builder log_probe::create(const probe_settings& common, node_reader& r) {
  log_probe_settings s;
  s.timeout = common.timeout;
  read_source(r, s);
  r.read("from", s.from_beginning, {{"end", false}, {"beginning", true}});
  r.read_size("max_read_per_run", s.max_read_per_run, [](std::uint64_t bytes) {
    return bytes < min_read_per_run ? "must be at least 64KiB (the longest line read whole)" : "";
  });
  r.read("max_files", s.max_files, between{1, 100'000});
  read_patterns(r, s);
  if (r.failed()) return {};
  return [s = std::move(s)](const probe_context& ctx) { return std::make_unique<log_probe>(s, ctx); };
}

}  // namespace vitals
