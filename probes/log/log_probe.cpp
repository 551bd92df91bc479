#include "probes/log/log_probe.hpp"

#include "probes/core/valid_text.hpp"
#include "probes/log/journal_source.hpp"
#include "probes/log/log_reader.hpp"

#include <stdexcept>

namespace vitals {

namespace {

constexpr metric_info log_metrics[] = {
    {"vitals_log_matches_total", "Lines that matched the pattern named by the pattern label since the probe started.",
     metric_kind::counter},
    {"vitals_log_lines_total", "Lines read since the probe started (a journal entry or a container's line is one).",
     metric_kind::counter},
    {"vitals_log_read_bytes_total", "Bytes of log read since the probe started.", metric_kind::counter},
    {"vitals_log_last_match_timestamp_seconds",
     "Unix time of the last line that matched the pattern (when it was logged, or read when the source has no "
     "time); absent before the first match.",
     metric_kind::gauge},
    {"vitals_log_files_followed",
     "Files followed now: those the path or glob matches, or a container's log file; "
     "1 for a journal that could be opened.",
     metric_kind::gauge},
    {"vitals_log_skipped_bytes_total",
     "Bytes not read because more was written between two runs than max_read_per_run allows.", metric_kind::counter},
    {"vitals_log_long_lines_total", "Lines longer than 64 KiB, counted and matched on their first 64 KiB.",
     metric_kind::counter},
};

}  // namespace

log_probe::log_probe(log_probe_settings s, const probe_context& ctx) : settings_(std::move(s)), ctx_(&ctx) {
  if (!settings_.patterns) throw std::invalid_argument("log_probe: no patterns");
  if (settings_.source == log_probe_settings::source_kind::file &&
      (settings_.path.empty() || settings_.path.front() != '/'))
    throw std::invalid_argument("log_probe: path must be absolute");
  reader_ = std::make_shared<log_reader>(settings_);
}

log_probe::~log_probe() = default;

std::span<const metric_info> log_probe::metrics() { return log_metrics; }

namespace {

using namespace std::chrono_literals;

// Built-in alert rules (DESIGN §6); each has a runbook in docs/runbooks/.
const builtin_alert log_alerts[] = {
    {"LogErrorsHigh", "rate(vitals_log_matches_total{pattern=\"error\"}[5m]) * 60 > {}", 10, 2min, "medium",
     "{{ $labels.probe }} logs {{ $value | humanize }} errors a minute",
     "Lines matching the pattern named error in the logs of {{ $labels.probe }} come faster than the threshold "
     "(per minute, over the last 5 minutes); the last ones are in the evidence."},
};

}  // namespace

std::span<const builtin_alert> log_probe::alerts() { return log_alerts; }

std::string log_probe::target() const {
  switch (settings_.source) {
    case log_probe_settings::source_kind::journal:
      return "journal " + (settings_.identifier.empty() ? journal_source::unit_name(settings_.unit)
                                                        : "identifier " + settings_.identifier);
    case log_probe_settings::source_kind::docker:
      return "container " + settings_.container;
    default:
      return settings_.path;
  }
}

asio::awaitable<probe_result> log_probe::run() {
  // A pass still reading from an earlier, timed-out run is waited for
  // rather than joined by a second one: one reader, one pass at a time.
  if (!in_flight_ || in_flight_->finished())
    in_flight_ =
        pass_call::start(*ctx_, [reader = reader_](const std::atomic<bool>& stop) { return reader->pass(stop); });
  const auto call = in_flight_;  // our own copy: a reload may destroy the probe while we wait
  co_await call->wait("log read");
  co_return call->value();
}

}  // namespace vitals
