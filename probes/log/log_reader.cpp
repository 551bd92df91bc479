#include "probes/log/log_reader.hpp"

#include "probes/core/command_line_redaction.hpp"
#include "probes/core/time_format.hpp"
#include "probes/core/units.hpp"
#include "probes/core/valid_text.hpp"
#include "probes/log/docker_source.hpp"
#include "probes/log/file_follower.hpp"
#include "probes/log/file_source.hpp"
#include "probes/log/journal_source.hpp"

#include <chrono>

namespace vitals {

namespace {

constexpr std::size_t evidence_line_bytes = 300;

// A kept line as evidence: printable (control bytes and ill-formed UTF-8
// escaped, so an ANSI colour code cannot reach a terminal), secret-looking
// values hidden as in command lines (password=…, Bearer …), and cut.
std::string evidence_text(const kept_line& line) {
  std::string text = redact_command_line(printable(line.text));
  bool cut = line.cut;
  if (text.size() > evidence_line_bytes) {
    std::size_t at = evidence_line_bytes;
    while (at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;  // not inside a UTF-8 sequence
    text.resize(at);
    cut = true;
  }
  return cut ? text + "…" : text;
}

double unix_seconds(wall_clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

std::string matches_text(std::uint64_t n) { return std::to_string(n) + (n == 1 ? " match" : " matches"); }

void pattern_evidence(const pattern_summary& p, evidence_list& ev) {
  std::string text = matches_text(p.window_matches) + " in this run, " + std::to_string(p.matches) + " in all";
  if (p.last_match) text += "; last at " + rfc3339(*p.last_match);
  ev.emplace_back(p.name, std::move(text));
  for (std::size_t i = 0; i < p.recent.size(); ++i) {
    const auto& line = p.recent[i];
    ev.emplace_back(p.name + " #" + std::to_string(i + 1),
                    rfc3339(line.at) + " " + printable(line.source) + ": " + evidence_text(line));
  }
  if (p.group_by.empty() || p.window_matches == 0) return;
  std::string groups;
  for (const auto& [value, n] : p.top_groups)
    groups += (groups.empty() ? "" : ", ") + (value.empty() ? std::string("(none)") : printable(value)) + " ×" +
              std::to_string(n);
  if (p.other_groups > 0) groups += ", others ×" + std::to_string(p.other_groups);
  ev.emplace_back(p.name + " by " + p.group_by, groups + " (this run)");
}

std::unique_ptr<log_source> make_source(const log_probe_settings& s, line_sink& sink) {
  switch (s.source) {
    case log_probe_settings::source_kind::journal:
      return std::make_unique<journal_source>(journal_source::target{s.unit, s.identifier, s.journal_directory});
    case log_probe_settings::source_kind::docker:
      return std::make_unique<docker_source>(s.container, s.docker_root);
    default:
      return std::make_unique<file_source>(s.path, s.max_files, sink);
  }
}

}  // namespace

probe_result log_result(const log_report& report, std::uint64_t max_read_per_run) {
  probe_result r =
      report.problem ? probe_result::failure(report.problem->reason, report.problem->error) : probe_result::success();
  const auto& t = report.tally;
  auto add = [&r](const char* name, double value, label_set labels = {}) {
    r.samples.push_back({name, std::move(labels), value});
  };
  add("vitals_log_lines_total", static_cast<double>(t.lines));
  add("vitals_log_read_bytes_total", static_cast<double>(t.read_bytes));
  add("vitals_log_skipped_bytes_total", static_cast<double>(t.skipped_bytes));
  add("vitals_log_long_lines_total", static_cast<double>(t.long_lines));
  add("vitals_log_files_followed", static_cast<double>(report.followed));
  for (const auto& p : t.patterns) {
    add("vitals_log_matches_total", static_cast<double>(p.matches), {{"pattern", p.name}});
    if (p.last_match)
      add("vitals_log_last_match_timestamp_seconds", unix_seconds(*p.last_match), {{"pattern", p.name}});
  }
  r.evidence.emplace_back("following", report.following);
  r.evidence.emplace_back("read", std::to_string(t.window_lines) + (t.window_lines == 1 ? " line (" : " lines (") +
                                      format_bytes(static_cast<double>(t.window_bytes)) + ") in this run, " +
                                      std::to_string(t.lines) + " in all");
  for (const auto& p : t.patterns) pattern_evidence(p, r.evidence);
  for (const auto& note : report.notes) r.evidence.push_back(note);
  if (t.skipped_bytes > 0)
    r.evidence.emplace_back("skipped in all", format_bytes(static_cast<double>(t.skipped_bytes)) +
                                                  " (max_read_per_run is " +
                                                  format_bytes(static_cast<double>(max_read_per_run)) + ")");
  return r;
}

log_reader::log_reader(const log_probe_settings& s)
    : settings_(s), tally_(s.patterns), sink_(std::make_unique<tally_sink>()), source_(make_source(s, *sink_)) {}

log_reader::~log_reader() = default;

log_report log_reader::read(const std::atomic<bool>& stop) {
  const auto now = std::chrono::steady_clock::now();
  read_pass pass{tally_,
                 settings_.max_read_per_run,
                 stop,
                 now + settings_.timeout / 2,
                 wall_clock::now(),
                 first_,
                 settings_.from_beginning,
                 std::nullopt,
                 {}};
  tally_.start_window();
  source_->read(pass);
  first_ = false;
  return log_report{tally_.summary(), source_->followed(), source_->following(), std::move(pass.problem),
                    std::move(pass.notes)};
}

probe_result log_reader::pass(const std::atomic<bool>& stop) {
  return log_result(read(stop), settings_.max_read_per_run);
}

}  // namespace vitals
