#pragma once

#include "daemon/app/config.hpp"
#include "probes/core/redaction.hpp"

#include <string>

namespace vitals {

// Points spdlog's default logger at stderr in `text` or `json` format (one
// object a line: time, level, msg) at the given level. May be called again
// on reload. Returns false for an unknown level or format.
bool setup_logging(const log_settings& settings);

// The secrets every log message is redacted with from now on, in both
// formats and whichever thread logs. Process-wide: the app sets it on
// start and on every applied reload, merged with what it held before
// (redactor::merge). Thread-safe.
void set_log_secrets(redactor secrets);

}  // namespace vitals
