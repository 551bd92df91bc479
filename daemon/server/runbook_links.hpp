#pragma once

// Runbook links that open. A built-in rule links its runbook as a path on
// this daemon (alerts::default_runbook_base: "/runbooks/ProbeDown", served
// by runbook_pages.hpp) unless alerts.runbook_base_url names another place;
// alerts leave the daemon (log, API, Alertmanager, webhooks, incidents) with
// that path made absolute, under the URL the daemon is reached at.

#include "daemon/alerts/alert_rules.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace vitals {

// The URL links in alerts give this daemon, ending in '/': `external_url`
// (server.external_url, for a daemon reached under another name, e.g.
// behind a proxy) when set; else http:// or https:// (`tls`) and the
// address as bound, with `host_name` for an address that means every
// address (0.0.0.0, ::), which would lead the reader to their own machine.
std::string daemon_link_url(std::string_view external_url, const boost::asio::ip::tcp::endpoint& bound, bool tls,
                            std::string_view host_name);

// `rules`, each built-in's runbook path on this daemon made absolute under
// `daemon_url` (a URL ending in '/'). A runbook_base_url of the user's and
// a user rule's own runbook_url are left as they are.
std::vector<alerts::rule> with_runbook_links(std::vector<alerts::rule> rules, std::string_view daemon_url);

}  // namespace vitals
