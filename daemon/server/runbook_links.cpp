#include "daemon/server/runbook_links.hpp"

#include "daemon/server/runbook_pages.hpp"

#include <algorithm>

namespace vitals {

static_assert(alerts::default_runbook_base == runbook_path, "built-ins must link where the runbooks are served");

std::string daemon_link_url(std::string_view external_url, const boost::asio::ip::tcp::endpoint& bound, bool tls,
                            std::string_view host_name) {
  if (!external_url.empty()) {
    std::string url(external_url);
    if (!url.ends_with('/')) url += '/';
    return url;
  }
  const auto address = bound.address();
  std::string host = address.to_string();
  if (address.is_unspecified()) host = host_name;
  else if (address.is_v6()) host = "[" + host + "]";
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(bound.port()) + "/";
}

std::vector<alerts::rule> with_runbook_links(std::vector<alerts::rule> rules, std::string_view daemon_url) {
  for (auto& r : rules)
    if (r.builtin && r.runbook_url.starts_with(runbook_path))
      r.runbook_url = std::string(daemon_url) + r.runbook_url.substr(1);
  return rules;
}

}  // namespace vitals
