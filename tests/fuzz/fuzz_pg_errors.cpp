// The PostgreSQL error classifier: libpq's and the server's texts become a
// reason and one line. Input: the password, a NUL byte, the message.
//
// Promises checked beyond "no crash": the line is one line and bounded, and
// it never holds the password (pg_errors.hpp: "never contains the password").

#include "fuzz_input.hpp"

#include "probes/postgres/pg_errors.hpp"

#include <string>
#include <string_view>

namespace {

// pg_errors.cpp cuts the line at 300 bytes and adds "…".
constexpr std::size_t max_line_bytes = 300 + 3;

constexpr std::string_view redacted = "<redacted>";
constexpr std::string_view cut_mark = "…";

// Where a "<redacted>" cut short by the length limit starts (the line then
// ends in "<red…"), or npos.
std::size_t cut_redaction(const std::string& line) {
  if (!line.ends_with(cut_mark)) return std::string::npos;
  const std::string_view kept(line.data(), line.size() - cut_mark.size());
  const auto open = kept.rfind('<');
  if (open == std::string_view::npos || !redacted.starts_with(kept.substr(open))) return std::string::npos;
  return open;
}

// Whether an occurrence of the password at [at, at + length) in the line
// touches text the function writes itself ("<redacted>", whole or cut,
// "; ", "…"): a password like "ted>", "e" or "x; y" may show up there by
// chance, which is no leak.
bool touches_own_text(const std::string& line, std::size_t at, std::size_t length) {
  for (std::string_view own : {redacted, std::string_view("; "), cut_mark})
    for (auto o = line.find(own); o != std::string::npos; o = line.find(own, o + 1))
      if (o < at + length && at < o + own.size()) return true;
  const auto cut = cut_redaction(line);
  return cut != std::string::npos && at + length > cut;
}

bool holds_the_password(const std::string& line, std::string_view secret) {
  if (secret.empty() || line == "connection failed") return false;
  for (auto at = line.find(secret); at != std::string::npos; at = line.find(secret, at + 1))
    if (!touches_own_text(line, at, secret.size())) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using vitals::fuzz::require;
  const auto parts = vitals::fuzz::split_input(vitals::fuzz::as_text(data, size), 2);
  const std::string_view secret = parts[0];
  const std::string_view message = parts[1];
  const auto failure = vitals::describe_pg_error(message, secret);
  require(!failure.reason.empty(), "a PostgreSQL error has no reason");
  require(failure.error.find('\n') == std::string::npos, "a PostgreSQL error line holds a newline");
  require(failure.error.size() <= max_line_bytes, "a PostgreSQL error line is longer than its bound");
  require(!holds_the_password(failure.error, secret), "a PostgreSQL error line holds the password");
  return 0;
}
