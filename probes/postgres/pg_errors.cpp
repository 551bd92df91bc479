#include "probes/postgres/pg_errors.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <vector>

namespace vitals {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool contains_any(const std::string& text, std::initializer_list<std::string_view> needles) {
  return std::any_of(needles.begin(), needles.end(),
                     [&](std::string_view n) { return text.find(n) != std::string::npos; });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool starts_with_any(std::string_view s, std::initializer_list<std::string_view> prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](std::string_view p) { return s.starts_with(p); });
}

// At most this many characters of error text: one readable line.
constexpr std::size_t max_error_length = 300;

}  // namespace

std::string pg_error_reason(std::string_view message) {
  const std::string m = lower(message);
  // Most specific first: several of these texts also mention "ssl" or
  // "connection".
  if (contains_any(m, {"too many clients", "remaining connection slots are reserved", "too many connections"}))
    return "too_many_connections";
  if (m.find("database \"") != std::string::npos && m.find("does not exist") != std::string::npos)
    return "no_database";
  if (contains_any(m, {"password authentication failed", "authentication failed", "no pg_hba.conf entry",
                       "pg_hba.conf rejects", "no password supplied", "is not permitted to log in",
                       "permission denied for database", "role \"", "password is required",
                       "server requested a cleartext password", "channel binding required"}))
    return "auth";
  if (contains_any(m, {"invalid response to ssl negotiation", "invalid response to gssapi negotiation",
                       "expected authentication request", "unexpected message", "invalid message",
                       "lost synchronization", "protocol", "message contents do not agree",
                       "unexpected response from server", "received invalid"}))
    return "protocol";
  if (contains_any(m, {"ssl", "certificate"})) return "ssl";
  if (contains_any(m, {"connection refused", "no such file or directory"})) return "refused";
  if (contains_any(m, {"server closed the connection", "terminating connection", "connection reset",
                       "broken pipe", "connection to server was lost", "end of file"}))
    return "closed";
  if (contains_any(m, {"timeout expired", "timed out", "statement timeout"})) return "timeout";
  if (contains_any(m, {"could not translate host name", "name or service not known"})) return "resolve";
  if (contains_any(m, {"no route to host", "network is unreachable", "host is unreachable"})) return "unreachable";
  return "error";
}

std::string pg_error_line(std::string_view message, std::string_view secret) {
  std::vector<std::string> causes;
  std::size_t start = 0;
  while (start <= message.size()) {
    std::size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(start, end - start);
    start = end + 1;
    // Hint lines are indented ("\tIs the server running on that host…").
    if (line.empty() || line.front() == '\t' || line.front() == ' ') continue;
    line = trim(line);
    if (starts_with_any(line, {"HINT:", "DETAIL:", "CONTEXT:"})) continue;
    if (line.starts_with("connection to server")) {
      const auto failed = line.find("failed: ");
      if (failed != std::string_view::npos) line = trim(line.substr(failed + 8));
    }
    for (std::string_view tag : {"FATAL:", "ERROR:", "PANIC:"})
      if (line.starts_with(tag)) line = trim(line.substr(tag.size()));
    if (line.empty()) continue;
    std::string cause(line);
    // libpq capitalises system errors ("Connection refused"); the rest of
    // our error texts are lower case.
    if (cause.size() > 1 && std::isupper(static_cast<unsigned char>(cause[0])) &&
        std::islower(static_cast<unsigned char>(cause[1])))
      cause[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(cause[0])));
    if (std::find(causes.begin(), causes.end(), cause) == causes.end()) causes.push_back(std::move(cause));
  }
  std::string text;
  for (const auto& c : causes) text += (text.empty() ? "" : "; ") + c;
  if (text.empty()) text = "connection failed";
  // Belt and braces: libpq does not echo passwords, but nothing secret may
  // ever leave the probe.
  if (!secret.empty())
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 10))
      text.replace(at, secret.size(), "<redacted>");
  if (text.size() > max_error_length) {
    std::size_t cut = max_error_length;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
    text = text.substr(0, cut) + "…";
  }
  return text;
}

pg_failure describe_pg_error(std::string_view message, std::string_view secret) {
  return {pg_error_reason(message), pg_error_line(message, secret)};
}

}  // namespace vitals
