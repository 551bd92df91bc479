#pragma once

// The runbooks as web pages: GET /runbooks/NAME for each built-in alert and
// the index at GET /runbooks/, rendered from the built-in Markdown
// (runbook_texts.hpp) with libcmark. Links between runbooks lead to their
// pages here; the pages use the status page's stylesheet and nothing else,
// so the server's Content-Security-Policy holds for them too.

#include "daemon/server/http_server.hpp"
#include "daemon/server/runbook_texts.hpp"

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

// Where the runbooks are served on this daemon.
inline constexpr std::string_view runbook_path = "/runbooks/";

// Every runbook rendered once, when made; immutable after, so it may be
// read from any thread.
class runbook_pages {
public:
  explicit runbook_pages(std::span<const runbook_text> texts);

  // The page of the runbook `name` (an alert name, "" for the index), or
  // nullptr when there is none.
  const std::string* page(std::string_view name) const;

  // Every runbook's name, sorted, the index ("README") left out.
  std::vector<std::string> names() const;

private:
  std::map<std::string, std::string, std::less<>> pages_;
};

// The pages of the runbooks built into this binary, rendered on first use.
const runbook_pages& builtin_runbook_pages();

// The answer to GET `path` under /runbooks/ ("/runbooks/ProbeDown", or
// "/runbooks/" for the index; ".md" after a name is accepted, as a
// runbook_base_url pointing here makes it): the page, or 404 naming what
// was asked for.
http_response runbook_response(const runbook_pages& pages, std::string_view path);

}  // namespace vitals
