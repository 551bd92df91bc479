#pragma once

// Secrets in the config: values written as ${env:NAME} or ${file:/path} are
// filled in before anything reads them, and never echoed back.

#include <yaml-cpp/node/node.h>

#include <cstddef>

namespace vitals {

class diagnostics;

// The most a ${file:} secret may hold.
inline constexpr std::size_t max_secret_file_bytes = 64 * 1024;

// Replaces ${env:NAME} and ${file:/path} in every scalar of `root`, in place.
// A missing variable or unreadable file is an error at the scalar's position.
// A file's trailing newline is dropped. Substituted scalars are marked secret
// in `diags`, and each value filled in is added to its secrets
// (diagnostics::add_secret): from there it reaches the loaded config's
// redactor. "$${" is a literal "${".
void substitute_secrets(YAML::Node root, diagnostics& diags);

}  // namespace vitals
