#include "probes/core/yaml_bounds.hpp"

#include "probes/core/diagnostics.hpp"
#include "probes/core/valid_text.hpp"
#include "probes/core/yaml_unclosed.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

namespace vitals {
namespace {

class bounds_walk {
public:
  bounds_walk(diagnostics& diags, const yaml_bounds& bounds) : diags_(diags), bounds_(bounds) {}

  // Recursion is safe here: it stops at bounds_.max_depth.
  bool visit(const YAML::Node& node) {
    if (++nodes_ > bounds_.max_nodes) {
      return fail(node,
                  "the document expands to more than " + std::to_string(bounds_.max_nodes) +
                      " nodes (each use of an alias counts)");
    }
    if (node.IsScalar()) {
      text_bytes_ += node.Scalar().size();
      if (text_bytes_ > bounds_.max_text_bytes)
        return fail(node,
                    "the document expands to more than " + std::to_string(bounds_.max_text_bytes >> 20) +
                        " MiB of text (each use of an alias counts)");
      return true;
    }
    if (!node.IsSequence() && !node.IsMap()) return true;
    for (const auto& ancestor : ancestors_) {
      if (node.is(ancestor)) return fail(node, "an alias refers to a node that contains it (an alias cycle)");
    }
    if (ancestors_.size() >= bounds_.max_depth)
      return fail(node, "nested deeper than " + std::to_string(bounds_.max_depth) + " levels");
    ancestors_.push_back(node);
    bool ok = true;
    if (node.IsSequence()) {
      std::size_t index = 0;
      for (const auto& item : node) {
        keys_.push_back(index++);
        ok = visit(item);
        keys_.pop_back();
        if (!ok) break;
      }
    } else {
      for (const auto& pair : node) {
        // Keys are nodes too: `? [*a]` would hide a cycle from a values-only walk.
        keys_.push_back(pair.first);
        ok = visit(pair.first) && visit(pair.second);
        keys_.pop_back();
        if (!ok) break;
      }
    }
    ancestors_.pop_back();
    return ok;
  }

private:
  // The key path ("probes[3].port") is only spelled out for the error.
  std::string path() const {
    std::string out;
    for (const auto& key : keys_) {
      if (const auto* index = std::get_if<std::size_t>(&key)) {
        out += "[" + std::to_string(*index) + "]";
      } else {
        const auto& node = std::get<YAML::Node>(key);
        if (!out.empty()) out += ".";
        out += node.IsScalar() ? node.Scalar().substr(0, 64) : "?";
      }
    }
    return out;
  }

  bool fail(const YAML::Node& node, std::string message) {
    diags_.add(node.Mark(), path(), std::move(message));
    return false;
  }

  diagnostics& diags_;
  const yaml_bounds& bounds_;
  std::vector<YAML::Node> ancestors_;
  std::vector<std::variant<std::size_t, YAML::Node>> keys_;
  std::size_t nodes_ = 0;
  std::size_t text_bytes_ = 0;
};

// Counts parse events, stopping the parse once there are too many.
class node_counter final : public YAML::EventHandler {
public:
  explicit node_counter(std::size_t max_nodes) : max_nodes_(max_nodes) {}

  struct too_many {
    YAML::Mark mark;
  };

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { count(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { count(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    count(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    count(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    count(mark);
  }
  void OnMapEnd() override {}

private:
  void count(const YAML::Mark& mark) {
    if (++nodes_ > max_nodes_) throw too_many{mark};
  }

  std::size_t max_nodes_;
  std::size_t nodes_ = 0;
};

}  // namespace

namespace {

// An unclosed "[" or "{" is reported where the parser gave up, often at the
// end of the file: point at the bracket (or a quote inside it) instead.
void report_syntax_error(const std::string& text, const YAML::Exception& e, diagnostics& diags) {
  const bool unclosed_flow = e.msg.find("flow not found") != std::string::npos;
  const auto gave_up = e.mark.pos < 0 ? text.size() : static_cast<std::size_t>(e.mark.pos);
  const auto end = text.find_last_not_of(" \t\r\n");
  const bool at_end = end == std::string::npos || gave_up > end;
  // Inside a flow collection left open, the next "- " item is where yaml-cpp notices.
  const bool block_entry = e.msg.find("illegal block entry") != std::string::npos;
  if (unclosed_flow || at_end || block_entry) {
    const auto opener = unclosed_yaml_opener(text, gave_up);
    if (opener && (!block_entry || static_cast<int>(opener->line) < e.mark.line)) {
      YAML::Mark at;
      at.line = static_cast<int>(opener->line);
      at.column = static_cast<int>(opener->column);
      const std::string what = opener->what == '\'' ? "\"'\"" : std::string("'") + opener->what + "'";
      diags.add(at, "", "invalid YAML: this " + what + " is never closed (the parser gave up at line " +
                            std::to_string(e.mark.line + 1) + ": " + e.msg + ")");
      return;
    }
  }
  diags.add(e.mark, "", "invalid YAML: " + e.msg);
}

}  // namespace

bool check_yaml_node_count(const std::string& text, diagnostics& diags, const yaml_bounds& bounds) {
  std::istringstream in(text);
  node_counter counter(bounds.max_nodes);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const node_counter::too_many& stop) {
    diags.add(stop.mark, "", "the document has more than " + std::to_string(bounds.max_nodes) + " nodes");
    return false;
  } catch (const YAML::Exception&) {
    // A syntax error: the loader reports it with its own message.
  }
  return true;
}

bool check_yaml_bounds(const YAML::Node& root, diagnostics& diags, const yaml_bounds& bounds) {
  bounds_walk walk(diags, bounds);
  return walk.visit(root);
}

bool load_bounded_yaml(const std::string& text, YAML::Node& root, diagnostics& diags, const yaml_bounds& bounds) {
  // YAML is UTF-8; a raw byte would otherwise flow into labels and logs.
  if (const auto bad = first_invalid_utf8(text); bad != std::string::npos) {
    const auto line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
    YAML::Mark at;
    at.line = static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
    at.column = static_cast<int>(line_start == std::string::npos || bad == 0 ? bad : bad - line_start - 1);
    diags.add(at, "", "the file is not valid UTF-8 here (byte " + printable(text.substr(bad, 1)) + ")");
    return false;
  }
  std::vector<YAML::Node> documents;
  try {
    if (!check_yaml_node_count(text, diags, bounds)) return false;
    documents = YAML::LoadAll(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own guard, whose message is only "bad file".
    diags.add(e.mark, "", "invalid YAML: nested too deeply");
    return false;
  } catch (const YAML::Exception& e) {
    report_syntax_error(text, e, diags);
    return false;
  }
  // YAML::Load would silently ignore everything after a second "---".
  if (documents.size() > 1) {
    diags.add(documents[1].Mark(), "", "a config file holds one YAML document, but another one starts here");
    return false;
  }
  root = documents.empty() ? YAML::Node() : documents[0];
  // First, before anything walks it: no alias cycle, bounded expansion.
  if (!check_yaml_bounds(root, diags, bounds)) return false;
  return true;
}

}  // namespace vitals
