#pragma once

// What a `type: log` probe was configured with (docs/probes/log.md).

#include "probes/log/log_patterns.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace vitals {

struct log_probe_settings {
  enum class source_kind { file, journal, docker };

  source_kind source = source_kind::file;
  std::string path;  // file: an absolute path or glob

  // journal: a unit ("api" means api.service) or a SYSLOG_IDENTIFIER, from
  // the system journal or the journal files in `directory`.
  std::string unit;
  std::string identifier;
  std::string journal_directory;

  // docker: a container's json-file log, found by name under docker_root.
  std::string container;
  std::string docker_root = "/var/lib/docker";

  bool from_beginning = false;                   // `from: beginning`; else new sources start at their end
  std::uint64_t max_read_per_run = 16ull << 20;  // bytes one run may read; the rest is skipped
  std::size_t max_files = 10'000;                // files a glob may follow
  std::chrono::milliseconds timeout{5'000};      // the probe's timeout: reading ends well before it
  std::shared_ptr<const log_pattern_set> patterns;
};

}  // namespace vitals
