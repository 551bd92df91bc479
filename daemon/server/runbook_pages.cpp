#include "daemon/server/runbook_pages.hpp"

#include "daemon/server/html_text.hpp"
#include "daemon/server/status_assets.hpp"
#include "probes/core/valid_text.hpp"

#include <cmark.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>

namespace vitals {

namespace {

// cmark's trees and rendered text are C allocations; these free them.
struct node_free {
  void operator()(cmark_node* n) const { cmark_node_free(n); }
};
using node_ptr = std::unique_ptr<cmark_node, node_free>;

struct iter_free {
  void operator()(cmark_iter* i) const { cmark_iter_free(i); }
};

// Safe mode: raw HTML in a runbook is left out and javascript: links are
// emptied, so a page can never carry script or markup the daemon did not write.
constexpr int cmark_options = CMARK_OPT_SAFE | CMARK_OPT_VALIDATE_UTF8;

// Every node of `root` of type `type`, in document order. Collected first
// and changed after, since a tree must not change under its iterator.
std::vector<cmark_node*> nodes_of(cmark_node* root, cmark_node_type type) {
  std::vector<cmark_node*> out;
  std::unique_ptr<cmark_iter, iter_free> it(cmark_iter_new(root));
  for (auto ev = cmark_iter_next(it.get()); ev != CMARK_EVENT_DONE; ev = cmark_iter_next(it.get())) {
    cmark_node* n = cmark_iter_get_node(it.get());
    if (ev == CMARK_EVENT_ENTER && cmark_node_get_type(n) == type) out.push_back(n);
  }
  return out;
}

// The text a reader sees in `node` (a heading, a link): its text and code spans.
std::string plain_text(cmark_node* node) {
  std::string out;
  std::unique_ptr<cmark_iter, iter_free> it(cmark_iter_new(node));
  for (auto ev = cmark_iter_next(it.get()); ev != CMARK_EVENT_DONE; ev = cmark_iter_next(it.get())) {
    cmark_node* n = cmark_iter_get_node(it.get());
    const auto type = cmark_node_get_type(n);
    if (ev != CMARK_EVENT_ENTER) continue;
    if (type == CMARK_NODE_TEXT || type == CMARK_NODE_CODE) out += cmark_node_get_literal(n);
    else if (type == CMARK_NODE_SOFTBREAK || type == CMARK_NODE_LINEBREAK) out += ' ';
  }
  return out;
}

// Where a link of a runbook leads on this daemon: "ProbeDown.md#x" →
// "/runbooks/ProbeDown#x", "README.md#x" → "/runbooks/#x"; a URL with a
// scheme, a path from the root or a fragment of the same page unchanged;
// nullopt for the other documentation ("../alerts.md"), which the daemon
// does not serve.
std::optional<std::string> link_target(std::string_view url, const std::set<std::string, std::less<>>& runbooks) {
  const auto first_special = url.find_first_of(":/?#");
  const bool has_scheme = first_special != std::string_view::npos && url[first_special] == ':';
  if (url.empty() || url.front() == '#' || url.front() == '/' || has_scheme) return std::string(url);
  const auto hash = url.find('#');
  const auto path = url.substr(0, hash);
  const auto fragment = hash == std::string_view::npos ? std::string_view() : url.substr(hash);
  if (!path.ends_with(".md") || path.find('/') != std::string_view::npos) return std::nullopt;
  const auto name = path.substr(0, path.size() - 3);
  if (name == "README") return std::string(runbook_path) + std::string(fragment);
  if (!runbooks.contains(name)) return std::nullopt;
  return std::string(runbook_path) + std::string(name) + std::string(fragment);
}

void rewrite_links(cmark_node* root, const std::set<std::string, std::less<>>& runbooks) {
  for (cmark_node* link : nodes_of(root, CMARK_NODE_LINK)) {
    const char* url = cmark_node_get_url(link);
    if (const auto target = link_target(url ? url : "", runbooks)) {
      cmark_node_set_url(link, target->c_str());
      continue;
    }
    // Kept as its text: a link that would lead nowhere is worse than none.
    while (cmark_node* child = cmark_node_first_child(link)) cmark_node_insert_before(link, child);
    cmark_node_free(link);
  }
}

// GitHub's heading anchors ("Reading the evidence" → "reading-the-evidence"),
// so "README.md#reading-the-evidence" finds its heading here too.
std::string slug_of(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 'A' && c <= 'Z') out += static_cast<char>(c - 'A' + 'a');
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c >= 0x80)
      out += static_cast<char>(c);
    else if (c == ' ') out += '-';
  }
  return out;
}

// cmark writes headings without an id: each gets an anchor of its own
// (<a id="…"></a>) before its text, which is rendered (and escaped) as
// before. The id holds only letters, digits, '-', '_' and UTF-8, so
// nothing in it needs escaping.
void anchor_headings(cmark_node* root) {
  std::map<std::string, int> seen;
  for (cmark_node* heading : nodes_of(root, CMARK_NODE_HEADING)) {
    auto slug = slug_of(plain_text(heading));
    if (const int n = seen[slug]++; n > 0) slug += "-" + std::to_string(n);
    cmark_node* anchor = cmark_node_new(CMARK_NODE_CUSTOM_INLINE);
    cmark_node_set_on_enter(anchor, ("<a id=\"" + slug + "\"></a>").c_str());
    cmark_node_prepend_child(heading, anchor);
  }
}

// The text of the first top-level heading, without the spaces around it
// (left where raw HTML was taken out).
std::string first_heading(cmark_node* root) {
  for (cmark_node* heading : nodes_of(root, CMARK_NODE_HEADING)) {
    if (cmark_node_get_heading_level(heading) != 1) continue;
    auto text = plain_text(heading);
    text.erase(0, text.find_first_not_of(' '));
    text.erase(text.find_last_not_of(' ') + 1);
    return text;
  }
  return "";
}

std::string render_page(std::string_view name, std::string_view markdown,
                        const std::set<std::string, std::less<>>& runbooks) {
  node_ptr doc(cmark_parse_document(markdown.data(), markdown.size(), cmark_options));
  if (!doc) throw std::bad_alloc();
  auto title = first_heading(doc.get());
  if (title.empty()) title = name == "README" ? "Runbooks" : std::string(name);
  rewrite_links(doc.get(), runbooks);
  anchor_headings(doc.get());
  std::unique_ptr<char, decltype(&std::free)> body(cmark_render_html(doc.get(), cmark_options), &std::free);
  if (!body) throw std::bad_alloc();
  std::string page =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>" +
      html_escape(title) + " — vitals runbooks</title><link rel=\"stylesheet\" href=\"" +
      status_asset_url("/static/status.css") +
      "\"></head><body><nav class=\"muted\"><a href=\"/\">status page</a> · <a href=\"" + std::string(runbook_path) +
      "\">all runbooks</a></nav><main class=\"runbook\">\n" + body.get() + "</main></body></html>";
  make_valid_utf8(page);
  return page;
}

}  // namespace

runbook_pages::runbook_pages(std::span<const runbook_text> texts) {
  std::set<std::string, std::less<>> runbooks;
  for (const auto& t : texts) runbooks.emplace(t.name);
  for (const auto& t : texts)
    pages_.emplace(t.name == "README" ? "" : std::string(t.name), render_page(t.name, t.markdown, runbooks));
}

const std::string* runbook_pages::page(std::string_view name) const {
  const auto it = pages_.find(name);
  return it == pages_.end() ? nullptr : &it->second;
}

std::vector<std::string> runbook_pages::names() const {
  std::vector<std::string> out;
  for (const auto& [name, page] : pages_)
    if (!name.empty()) out.push_back(name);
  return out;
}

const runbook_pages& builtin_runbook_pages() {
  static const runbook_pages pages(runbook_texts());
  return pages;
}

http_response runbook_response(const runbook_pages& pages, std::string_view path) {
  auto name = path.substr(std::min(path.size(), runbook_path.size()));
  if (name.ends_with(".md")) name.remove_suffix(3);
  if (name == "README") name = "";
  if (const auto* page = pages.page(name)) return http_response{200, "text/html; charset=utf-8", *page, {}, {}};
  return http_response::text(404, "no runbook named \"" + printable(name) + "\"; every runbook is listed at " +
                                      std::string(runbook_path));
}

}  // namespace vitals
