#pragma once

#include <string>
#include <string_view>

namespace vitals {

// A failed connect or query as the probe reports it.
struct pg_failure {
  std::string reason;  // refused|auth|no_database|too_many_connections|protocol|ssl|closed|...
  std::string error;   // one line, never contains the password
};

// Classifies a libpq error message (libpq's and the server's English texts;
// anything not recognised is "error"). Pure: no I/O, unit-tested.
std::string pg_error_reason(std::string_view message);

// libpq's multi-line message as one line: drops the
// `connection to server at "…", port N failed:` prefixes, "FATAL:" tags and
// hint lines, joins distinct causes with "; ", and replaces every
// occurrence of `secret` (when not empty) with <redacted>.
std::string pg_error_line(std::string_view message, std::string_view secret);

// Both of the above.
pg_failure describe_pg_error(std::string_view message, std::string_view secret);

}  // namespace vitals
