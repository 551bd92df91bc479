#pragma once

// One log probe's reading state: its source, what it counted, and where
// each file was left. A pass reads what is new and returns the run's
// result. Passes run on the pool, one at a time per reader (the probe does
// not start one while another is still running); nothing here is touched
// by the loop.

#include "probes/core/probe.hpp"
#include "probes/log/log_probe_settings.hpp"
#include "probes/log/log_source.hpp"
#include "probes/log/log_tally.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>

namespace vitals {

class line_sink;

// Everything a pass learned, before it becomes a probe_result.
struct log_report {
  tally_summary tally;
  std::size_t followed = 0;
  std::string following;
  std::optional<source_problem> problem;
  evidence_list notes;
};

// The run's verdict from a report: the series, the evidence, and a failure
// only when a source could not be read. Pure.
probe_result log_result(const log_report& report, std::uint64_t max_read_per_run);

class log_reader {
 public:
  explicit log_reader(const log_probe_settings& s);
  ~log_reader();
  log_reader(const log_reader&) = delete;
  log_reader& operator=(const log_reader&) = delete;

  // Reads what is new since the last pass, within max_read_per_run bytes
  // and about half the probe's timeout; `stop` ends it sooner.
  probe_result pass(const std::atomic<bool>& stop);

  // The same without the result, for tests and the benchmark.
  log_report read(const std::atomic<bool>& stop);

 private:
  log_probe_settings settings_;
  log_tally tally_;
  std::unique_ptr<line_sink> sink_;
  std::unique_ptr<log_source> source_;
  bool first_ = true;
};

}  // namespace vitals
