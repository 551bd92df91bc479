#pragma once

// The status page's stylesheet and script, built into the binary and served
// from /static/: the page itself has no inline style or script, so it works
// under a Content-Security-Policy of `script-src 'self'; style-src 'self'`.

#include <optional>
#include <string>
#include <string_view>

namespace vitals {

struct status_asset {
  std::string_view content_type;
  std::string_view body;
};

// The asset served at `path` ("/static/status.css"), or nullopt.
std::optional<status_asset> find_status_asset(std::string_view path);

// The URL the page links `path` with: the path and a hash of the asset's
// content ("/static/status.css?v=…"), so a cached copy is never used for a
// newer build's page.
std::string status_asset_url(std::string_view path);

}  // namespace vitals
