#pragma once

#include "daemon/app/config.hpp"

#include <string>

namespace vitals {

// Points spdlog's default logger at stderr in `text` or `json` format (one
// object a line: time, level, msg) at the given level. May be called again
// on reload. Returns false for an unknown level or format.
bool setup_logging(const log_settings& settings);

}  // namespace vitals
