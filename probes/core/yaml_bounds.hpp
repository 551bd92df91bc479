#pragma once

// Limits on what a YAML document may expand to. yaml-cpp shares one node
// between an anchor and its aliases, so a 400-byte file can stand for 10^8
// nodes ("billion laughs"), and `&a [*a]` is a node that contains itself.
// Every later walk over the config (secret substitution, fingerprints, the
// readers) recurses and expands aliases; this check runs first, so each of
// them is bounded by these limits.

#include <cstddef>
#include <string>

namespace YAML {
class Node;
}

namespace vitals {

class diagnostics;

struct yaml_bounds {
  std::size_t max_depth = 64;             // nesting of maps and sequences
  std::size_t max_nodes = 100'000;        // counted with aliases expanded
  std::size_t max_text_bytes = 16 << 20;  // all scalars, aliases expanded
};

// Counts the nodes written in `text` with yaml-cpp's event parser, which
// builds none: yaml-cpp spends about 500 bytes on each node it builds, so a
// 4 MiB file of "- 1" lines would cost hundreds of MiB to load. Returns
// false after reporting one error when there are more than
// bounds.max_nodes; syntax errors are left for the loader to report.
bool check_yaml_node_count(const std::string& text, diagnostics& diags, const yaml_bounds& bounds = {});

// Walks `root` with aliases expanded. Returns true when it stays within
// `bounds`; otherwise reports one error at the offending node (an alias
// cycle, too deep, too many nodes or too much text) and returns false.
bool check_yaml_bounds(const YAML::Node& root, diagnostics& diags, const yaml_bounds& bounds = {});

// Parses a file's text as one YAML document within `bounds`: valid UTF-8,
// not too many nodes, no second document, no alias cycle, bounded
// expansion. Returns the root (a null node for an empty file), or false
// after reporting each problem at file:line:column.
bool load_bounded_yaml(const std::string& text, YAML::Node& root, diagnostics& diags,
                       const yaml_bounds& bounds = {});

}  // namespace vitals
