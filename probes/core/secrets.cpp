#include "probes/core/secrets.hpp"

#include "probes/core/diagnostics.hpp"
#include "probes/core/text_file.hpp"
#include "probes/core/units.hpp"

#include <yaml-cpp/yaml.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace vitals {

namespace {

// ${env:NAME} / ${file:/path} expansion of one scalar. Returns the new text,
// or nullopt after reporting every problem in it.
struct expansion {
  std::string text;
  bool substituted = false;  // something came from outside: a secret
};

// A secret is a small regular file. A device (/dev/zero), a FIFO (which
// would block the read) or a huge file is refused before reading it.
std::optional<std::string> read_secret_file(const std::string& file, std::string& content) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if (static_cast<std::uint64_t>(st.st_size) > max_secret_file_bytes)
    return "larger than " + format_bytes(max_secret_file_bytes) + ", too large for a secret";
  if (const int err = read_text_file(file, content, max_secret_file_bytes); err != 0)
    return err == EFBIG ? "larger than " + format_bytes(max_secret_file_bytes) + ", too large for a secret"
                        : std::string(std::strerror(err));
  return std::nullopt;
}

std::optional<expansion> expand(const std::string& text, const YAML::Mark& mark, const std::string& path,
                                diagnostics& diags) {
  expansion out;
  bool failed = false;
  std::size_t i = 0;
  while (i < text.size()) {
    // "$${" is a literal "${", for the rare value that needs one.
    if (text.compare(i, 3, "$${") == 0) {
      out.text += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out.text += text[i++];
      continue;
    }
    std::size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      diags.add(mark, path, "unterminated \"${\": write ${env:NAME} or ${file:/path}, or $${ for a literal \"${\"");
      return std::nullopt;
    }
    std::string reference = text.substr(i + 2, close - i - 2);
    i = close + 1;
    if (reference.starts_with("env:") && reference.size() > 4) {
      std::string name = reference.substr(4);
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) {
        diags.add(mark, path, "environment variable " + name + " is not set (from ${env:" + name + "})");
        failed = true;
        continue;
      }
      out.text += value;
      out.substituted = true;
      diags.add_secret(value);
    } else if (reference.starts_with("file:") && reference.size() > 5) {
      std::string file = reference.substr(5);
      std::string content;
      if (auto problem = read_secret_file(file, content)) {
        diags.add(mark, path, "cannot read secret file " + quoted(file) + ": " + *problem);
        failed = true;
        continue;
      }
      // Files written by `echo` or an editor end in a newline that is not
      // part of the password.
      if (content.ends_with('\n')) content.pop_back();
      if (content.ends_with('\r')) content.pop_back();
      out.text += content;
      out.substituted = true;
      diags.add_secret(std::move(content));
    } else {
      diags.add(mark, path,
                "unknown reference " + quoted("${" + reference + "}") +
                    ": write ${env:NAME} or ${file:/path}, or $${ for a literal \"${\"");
      failed = true;
    }
  }
  if (failed) return std::nullopt;
  return out;
}

using mark_set = std::set<std::pair<int, int>>;

void substitute_in(YAML::Node node, const std::string& path, diagnostics& diags, mark_set& seen) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      // An alias shares its node with the anchor: expand it only once, or
      // a substituted value containing "${" would be expanded again.
      if (!seen.insert({node.Mark().line, node.Mark().column}).second) return;
      if (node.Scalar().find('$') == std::string::npos) return;
      auto result = expand(node.Scalar(), node.Mark(), path, diags);
      if (!result) return;
      YAML::Mark mark = node.Mark();
      // Assigning a string keeps the node's mark (yaml-cpp only replaces
      // the scalar text), so errors still point at the original position.
      node = result->text;
      if (result->substituted) diags.mark_secret(mark);
      return;
    }
    case YAML::NodeType::Sequence: {
      std::size_t index = 0;
      for (auto item : node) substitute_in(item, path + "[" + std::to_string(index++) + "]", diags, seen);
      return;
    }
    case YAML::NodeType::Map: {
      for (auto pair : node) {
        std::string key = pair.first.IsScalar() ? pair.first.Scalar() : "?";
        substitute_in(pair.second, path.empty() ? key : path + "." + key, diags, seen);
      }
      return;
    }
    default: return;
  }
}

}  // namespace

void substitute_secrets(YAML::Node root, diagnostics& diags) {
  mark_set seen;
  substitute_in(root, "", diags, seen);
}

}  // namespace vitals
