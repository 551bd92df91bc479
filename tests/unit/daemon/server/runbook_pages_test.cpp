// The runbooks as pages: rendered from Markdown by libcmark, links between
// runbooks leading to their pages here, nothing from the Markdown that could
// run or style the page, 404 for a name that is no runbook; and one runbook
// per built-in alert in this build.

#include "daemon/server/runbook_pages.hpp"

#include "daemon/alerts/alert_rules.hpp"
#include "probes/core/probe_registry.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace vitals {
namespace {

using namespace std::string_literals;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string& page_of(const runbook_pages& pages, std::string_view name) {
  static const std::string none = "(no page)";
  const auto* page = pages.page(name);
  return page ? *page : none;
}

TEST(runbook_pages, a_link_to_another_runbook_leads_to_its_page_here) {
  const std::array<runbook_text, 3> texts{{
      {"DiskFull", "# DiskFull\n\nSee [ProbeDown](ProbeDown.md) and [the evidence](README.md#reading-the-evidence).\n"},
      {"ProbeDown", "# ProbeDown\n\nBack to [DiskFull](DiskFull.md#what-to-do).\n"},
      {"README", "# Runbooks\n\n## Reading the evidence\n"},
  }};
  const runbook_pages pages(texts);

  const auto& disk = page_of(pages, "DiskFull");
  EXPECT_TRUE(has(disk, "<a href=\"/runbooks/ProbeDown\">ProbeDown</a>")) << disk;
  EXPECT_TRUE(has(disk, "<a href=\"/runbooks/#reading-the-evidence\">the evidence</a>")) << disk;
  EXPECT_TRUE(has(page_of(pages, "ProbeDown"), "<a href=\"/runbooks/DiskFull#what-to-do\">DiskFull</a>"));
  // The fragment finds its heading: headings carry GitHub's anchors.
  EXPECT_TRUE(has(page_of(pages, ""), "<h2><a id=\"reading-the-evidence\"></a>Reading the evidence</h2>"))
      << page_of(pages, "");
}

TEST(runbook_pages, a_link_to_documentation_not_served_here_keeps_only_its_text) {
  const std::array<runbook_text, 1> texts{{
      {"DiskFull", "# DiskFull\n\nSee [configuration.md](../configuration.md#defaults), [Gone](Gone.md) and "
                   "[the wiki](https://wiki.example/disk).\n"},
  }};
  const runbook_pages pages(texts);

  const auto& disk = page_of(pages, "DiskFull");
  EXPECT_FALSE(has(disk, "configuration.md#defaults")) << disk;
  EXPECT_FALSE(has(disk, "Gone.md")) << disk;
  EXPECT_TRUE(has(disk, "See configuration.md, Gone and <a href=\"https://wiki.example/disk\">the wiki</a>."))
      << disk;
}

TEST(runbook_pages, raw_html_and_script_links_in_a_runbook_never_reach_the_page) {
  const std::array<runbook_text, 1> texts{{
      {"Hostile", "# Hostile <img src=x onerror=alert(1)>\n\n<script>alert(1)</script>\n\n"
                  "<div style=\"color:red\">red</div>\n\nText <b onclick=\"alert(1)\">bold</b> "
                  "[click](javascript:alert(1)).\n\n## 1 < 2 & \"quotes\"\n"},
  }};
  const runbook_pages pages(texts);

  const auto& page = page_of(pages, "Hostile");
  EXPECT_FALSE(has(page, "<script")) << page;
  EXPECT_FALSE(has(page, "<img")) << page;
  EXPECT_FALSE(has(page, "<div")) << page;
  EXPECT_FALSE(has(page, "onclick")) << page;
  EXPECT_FALSE(has(page, "javascript:")) << page;
  EXPECT_FALSE(has(page, "style=")) << page;
  // Text stays text, in headings too, whose anchors are written by the daemon.
  EXPECT_TRUE(has(page, "<h2><a id=\"1--2--quotes\"></a>1 &lt; 2 &amp; &quot;quotes&quot;</h2>")) << page;
}

TEST(runbook_pages, a_page_is_titled_by_its_heading_and_uses_only_the_status_stylesheet) {
  const std::array<runbook_text, 1> texts{{{"DiskFull", "Intro.\n\n# Disk \"full\" & more\n"}}};
  const runbook_pages pages(texts);

  const auto& page = page_of(pages, "DiskFull");
  EXPECT_TRUE(has(page, "<title>Disk &quot;full&quot; &amp; more — vitals runbooks</title>")) << page;
  EXPECT_TRUE(has(page, "<link rel=\"stylesheet\" href=\"/static/status.css?v=")) << page;
  EXPECT_FALSE(has(page, "<style")) << page;
  EXPECT_FALSE(has(page, " style=")) << page;
}

TEST(runbook_pages, an_unknown_name_is_404_naming_it_and_the_index) {
  const std::array<runbook_text, 1> texts{{{"ProbeDown", "# ProbeDown\n"}}};
  const runbook_pages pages(texts);

  const auto r = runbook_response(pages, "/runbooks/ProbeUp\x1b[2J");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.body, "no runbook named \"ProbeUp\\x1b[2J\"; every runbook is listed at /runbooks/\n");
  EXPECT_EQ(runbook_response(pages, "/runbooks/ProbeDown/extra").status, 404u);
}

TEST(runbook_pages, a_name_is_served_with_or_without_md_and_the_index_with_or_without_slash) {
  const std::array<runbook_text, 2> texts{{{"ProbeDown", "# ProbeDown\n"}, {"README", "# Runbooks\n"}}};
  const runbook_pages pages(texts);

  for (const auto* path : {"/runbooks/ProbeDown", "/runbooks/ProbeDown.md"}) {
    const auto r = runbook_response(pages, path);
    EXPECT_EQ(r.status, 200u) << path;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8") << path;
    EXPECT_TRUE(has(r.body, "<h1><a id=\"probedown\"></a>ProbeDown</h1>")) << path;
  }
  for (const auto* path : {"/runbooks/", "/runbooks", "/runbooks/README.md"}) {
    const auto r = runbook_response(pages, path);
    EXPECT_EQ(r.status, 200u) << path;
    EXPECT_TRUE(has(r.body, "<title>Runbooks — vitals runbooks</title>")) << path;
  }
}

// A built-in added without its runbook would send every alert of it to a 404.
TEST(runbook_pages, every_builtin_alert_has_a_runbook_built_in) {
  probe_registry registry;
  register_builtin_probes(registry);
  const auto& pages = builtin_runbook_pages();
  for (const auto& b : alerts::builtin_alerts(registry))
    EXPECT_NE(pages.page(b.name), nullptr) << "docs/runbooks/" << b.name << ".md is missing";
}

TEST(runbook_pages, the_index_links_every_built_in_runbook) {
  const auto& pages = builtin_runbook_pages();
  const auto* index = pages.page("");
  ASSERT_NE(index, nullptr) << "docs/runbooks/README.md is missing";
  ASSERT_FALSE(pages.names().empty());
  for (const auto& name : pages.names())
    EXPECT_TRUE(has(*index, "href=\"/runbooks/" + name + "\"")) << name << " has no link in docs/runbooks/README.md";
}

}  // namespace
}  // namespace vitals
