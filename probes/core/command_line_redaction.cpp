#include "probes/core/command_line_redaction.hpp"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace vitals {

namespace {

constexpr std::string_view marker = "<redacted>";

struct token {
  std::size_t begin;
  std::size_t end;
};

using span_list = std::vector<std::pair<std::size_t, std::size_t>>;  // [begin, end) to hide

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool secret_name(std::string_view name) {
  static constexpr std::string_view words[] = {"password", "passwd", "pass", "token", "secret", "key", "credential"};
  const std::string n = lower(name);
  return std::any_of(std::begin(words), std::end(words), [&](std::string_view w) { return n.find(w) != n.npos; });
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

// Every "NAME=V" inside one argument whose NAME holds a secret word: V runs
// to the end of the argument, or, in a URL query (NAME after '?' or '&'),
// to the next '&' or '#'.
void assignments(std::string_view cmd, token t, span_list& hide) {
  for (std::size_t eq = cmd.find('=', t.begin); eq != std::string_view::npos && eq < t.end;
       eq = cmd.find('=', eq + 1)) {
    std::size_t name_begin = eq;
    while (name_begin > t.begin && name_char(cmd[name_begin - 1])) --name_begin;
    if (name_begin == eq || !secret_name(cmd.substr(name_begin, eq - name_begin))) continue;
    const bool in_query = name_begin > t.begin && (cmd[name_begin - 1] == '?' || cmd[name_begin - 1] == '&');
    std::size_t value_end = t.end;
    if (in_query) value_end = std::min(value_end, cmd.substr(0, t.end).find_first_of("&#", eq + 1));
    if (value_end > eq + 1) hide.emplace_back(eq + 1, value_end);
  }
}

// "scheme://user:V@host": V, the password of a URL's userinfo.
void url_passwords(std::string_view cmd, token t, span_list& hide) {
  for (std::size_t scheme = cmd.find("://", t.begin); scheme != std::string_view::npos && scheme < t.end;
       scheme = cmd.find("://", scheme + 3)) {
    const std::size_t authority = scheme + 3;
    const std::size_t authority_end = std::min(t.end, cmd.substr(0, t.end).find_first_of("/?#", authority));
    const std::size_t at = cmd.substr(0, authority_end).rfind('@');
    if (at == std::string_view::npos || at < authority) continue;
    const std::size_t colon = cmd.substr(0, at).find(':', authority);
    if (colon != std::string_view::npos && colon + 1 < at) hide.emplace_back(colon + 1, at);
  }
}

// A header whose value is a credential whatever its words.
bool credential_header(std::string_view name) {
  const std::string n = lower(name);
  return secret_name(n) || n == "authorization" || n == "proxy-authorization" || n == "cookie";
}

bool is_auth_scheme(std::string_view word) {
  const std::string w = lower(word);
  return w == "bearer" || w == "basic" || w == "token" || w == "digest" || w == "negotiate";
}

// mysql and mariadb take the password glued to -p.
bool takes_glued_password(std::string_view program) {
  const auto slash = program.rfind('/');
  const auto base = program.substr(slash == std::string_view::npos ? 0 : slash + 1);
  return base.starts_with("mysql") || base.starts_with("mariadb");
}

std::vector<token> split(std::string_view cmd) {
  std::vector<token> out;
  for (std::size_t i = 0; i < cmd.size();) {
    while (i < cmd.size() && cmd[i] == ' ') ++i;
    const std::size_t begin = i;
    while (i < cmd.size() && cmd[i] != ' ') ++i;
    if (i > begin) out.push_back({begin, i});
  }
  return out;
}

// Arguments that say the next one is a secret: "--password", "-token",
// "Authorization:", "X-Api-Key:". A next argument that is a --long option
// is not taken for the value.
void next_argument_values(std::string_view cmd, const std::vector<token>& tokens, span_list& hide) {
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
    const std::string_view arg = cmd.substr(tokens[i].begin, tokens[i].end - tokens[i].begin);
    const bool option = arg.size() > 1 && arg[0] == '-' && arg.find('=') == std::string_view::npos;
    const bool header = arg.size() > 1 && arg.back() == ':' && arg.find("://") == std::string_view::npos;
    const std::string_view name = header ? arg.substr(0, arg.size() - 1) : arg;
    if (!(option && secret_name(name)) && !(header && credential_header(name))) continue;
    std::size_t value = i + 1;
    const auto next = [&](std::size_t k) { return cmd.substr(tokens[k].begin, tokens[k].end - tokens[k].begin); };
    if (option && next(value).starts_with("--")) continue;
    // "Authorization: Bearer V": the scheme may stay, V may not.
    if (header && is_auth_scheme(next(value)) && value + 1 < tokens.size()) ++value;
    hide.emplace_back(tokens[value].begin, tokens[value].end);
  }
}

}  // namespace

std::string redact_command_line(std::string_view cmd) {
  const auto tokens = split(cmd);
  span_list hide;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto t = tokens[i];
    assignments(cmd, t, hide);
    url_passwords(cmd, t, hide);
    const std::string_view arg = cmd.substr(t.begin, t.end - t.begin);
    if (i > 0 && arg.size() > 2 && arg.starts_with("-p") && arg[2] != '=' &&
        takes_glued_password(cmd.substr(tokens[0].begin, tokens[0].end - tokens[0].begin)))
      hide.emplace_back(t.begin + 2, t.end);
  }
  next_argument_values(cmd, tokens, hide);
  if (hide.empty()) return std::string(cmd);

  // Spans may overlap ("--token=a?key=b"): merged, each hidden once.
  std::sort(hide.begin(), hide.end());
  std::string out;
  std::size_t copied = 0;
  for (const auto& [begin, end] : hide) {
    if (end <= copied) continue;
    if (begin >= copied) {
      out.append(cmd.substr(copied, begin - copied));
      out += marker;
    }
    copied = end;
  }
  out.append(cmd.substr(copied));
  return out;
}

}  // namespace vitals
