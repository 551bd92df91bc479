#pragma once

// Alert annotations: the part of Prometheus's template language that alert
// summaries use. Pure functions, no I/O.

#include "daemon/alerts/alert_expr.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace vitals::alerts {

// Prometheus's template subset: {{ $labels.name }}, {{ $value }}, and
// {{ $value | humanize }}, humanize1024, humanizePercentage,
// humanizeDuration. Anything else is left as written.
std::string render_template(std::string_view text, const labels& label_values, double value);

// Checks a template for the subset above: nullopt when fine, else why not.
std::optional<std::string> template_problem(std::string_view text);

}  // namespace vitals::alerts
