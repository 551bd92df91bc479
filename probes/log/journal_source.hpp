#pragma once

// `journal:` — the entries of one unit or syslog identifier, read through
// libsystemd's sd_journal (loaded on first use, see sd_journal_library.hpp)
// from the system journal or a directory of journal files. The journal is
// opened for each pass (so descriptors stay bounded and journal files
// rotated or vacuumed meanwhile are seen) and the cursor of the last entry
// counted is kept between passes, so no entry is counted twice or skipped.
// One entry's MESSAGE is one line. Runs on the pool.

#include "probes/log/log_source.hpp"

#include <string>

namespace vitals {

class journal_source final : public log_source {
 public:
  struct target {
    std::string unit;        // "api.service"; empty when identifier is set
    std::string identifier;  // SYSLOG_IDENTIFIER
    std::string directory;   // empty: the system journal
  };

  explicit journal_source(target t);

  void read(read_pass& pass) override;
  std::size_t followed() const override { return open_ ? 1 : 0; }
  std::string following() const override;

  // "api" -> "api.service"; a name with a unit suffix stays as it is.
  static std::string unit_name(const std::string& name);

 private:
  target target_;
  std::string cursor_;    // the last entry counted (or skipped); empty: none yet
  bool started_ = false;  // the first pass took its starting point
  bool open_ = false;     // the last pass could read the journal
};

}  // namespace vitals
