#include "daemon/server/status_assets.hpp"

#include <array>
#include <cstdint>
#include <cstdio>

namespace vitals {

namespace {

constexpr std::string_view status_css = R"css(
:root{--up:#1a7f37;--down:#cf222e;--pending:#9a6700;--unknown:#6e7781;--line:#d0d7de;--muted:#57606a;--accent:#0969da;color-scheme:light dark}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:1rem 1.25rem;color:#1f2328;background:#fff}
header{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:baseline}
h1{font-size:1.4rem;margin:0}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.summary{color:var(--muted)}.summary b.bad{color:var(--down)}
table{border-collapse:collapse;width:100%}
th,td{padding:.35rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;color:var(--muted)}
.badge{display:inline-block;min-width:4.5em;text-align:center;padding:.05rem .45rem;border-radius:1rem;color:#fff;font-weight:600;font-size:.8rem}
.badge.up,.badge.resolved{background:var(--up)}.badge.down,.badge.firing{background:var(--down)}
.badge.pending{background:var(--pending)}.badge.unknown{background:var(--unknown)}
tr.down td.cause{color:var(--down);font-weight:600}
.muted{color:var(--muted)}
details summary{cursor:pointer;color:var(--muted);font-size:.85rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .75rem;margin:.3rem 0;font-size:.85rem}
dt{color:var(--muted)}dd{margin:0;word-break:break-word;font-family:ui-monospace,monospace}
footer{margin-top:1.5rem;font-size:.85rem;color:var(--muted)}
a{color:#0969da}
main.runbook{max-width:60rem}
main.runbook table{margin:.5rem 0 1rem}
pre{overflow-x:auto;background:#f6f8fa;padding:.6rem .8rem;border-radius:.4rem;font-size:.85rem}
code{font-family:ui-monospace,monospace;font-size:.9em}
svg.strip rect{width:4px;height:16px;rx:1px}
svg.strip rect.ok{fill:var(--up)}svg.strip rect.failed{fill:var(--down)}
svg.strip rect.timed_out{fill:var(--pending)}svg.strip rect.skipped{fill:var(--unknown)}
svg.strip,svg.spark,svg.bar{display:block;max-width:100%;height:auto;overflow:visible}
svg.spark{margin-top:.2rem}
svg.spark polyline,svg.chart polyline.line{fill:none;stroke:var(--accent);stroke-width:1.2;vector-effect:non-scaling-stroke}
svg.bar rect.track{fill:var(--line)}svg.bar rect.fill.fine{fill:var(--up)}
svg.bar rect.fill.warn{fill:var(--pending)}svg.bar rect.fill.bad{fill:var(--down)}
td.history{min-width:14rem}
dl.uptime{grid-template-columns:max-content max-content;margin:0}dl.uptime dd.bad{color:var(--down);font-weight:600}
.key{font-size:.85rem}.key svg{margin:.15rem 0}
span.kind{display:block;font-size:.8rem}td.target{word-break:break-all;max-width:16rem}
.bad{color:var(--down)}
h1 a{color:inherit;text-decoration:none}
body.probe-page header .badge{align-self:center}
figure.chart{margin:.5rem 0 1rem;max-width:56rem}
div.key-charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:0 1.5rem;max-width:56rem}figure.chart figcaption{font-size:.85rem;color:var(--muted)}
svg.chart{display:block;width:100%;height:auto}
svg.chart rect.plot{fill:none;stroke:var(--line)}
svg.chart polygon.band{fill:var(--accent);opacity:.18}
svg.chart circle.dot{fill:var(--accent)}
svg.chart rect.failures{fill:var(--down)}
svg.chart rect.incident{fill:var(--down);opacity:.14}
svg.chart text.axis{font-size:10px;fill:var(--muted)}svg.chart text.axis.end{text-anchor:end}
@media (prefers-color-scheme:dark){
 :root{--up:#3fb950;--down:#f85149;--pending:#d29922;--unknown:#8b949e;--line:#30363d;--muted:#8b949e;--accent:#58a6ff}
 body{color:#e6edf3;background:#0d1117}a{color:#58a6ff}pre{background:#161b22}
}
@media (max-width:720px){
 section table,section tbody,section tr,section td{display:block;width:100%}
 section thead{display:none}
 section tr{border:1px solid var(--line);border-radius:.5rem;margin:.6rem 0;padding:.3rem}
 section td{border:0;padding:.2rem .4rem}
 td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-size:.8rem}
 main.runbook table{display:block;overflow-x:auto}
}
)css";

// Refreshes the page every 10 s, unless the reader has evidence open, and
// says so in the footer: without the script nothing claims to refresh.
constexpr std::string_view status_js = R"js("use strict";
(function () {
  var note = document.getElementById("refresh");
  if (note) note.textContent = " · refreshes every 10 s";
  setInterval(function () {
    if (!document.querySelector("details[open]")) location.reload();
  }, 10000);
})();
)js";

struct entry {
  std::string_view path;
  status_asset asset;
};

constexpr std::array<entry, 2> assets{{
    {"/static/status.css", {"text/css; charset=utf-8", status_css}},
    {"/static/status.js", {"text/javascript; charset=utf-8", status_js}},
}};

// FNV-1a: a cache key, not a digest anyone relies on for integrity.
std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

}  // namespace

std::optional<status_asset> find_status_asset(std::string_view path) {
  for (const auto& e : assets)
    if (e.path == path) return e.asset;
  return std::nullopt;
}

std::string status_asset_url(std::string_view path) {
  const auto asset = find_status_asset(path);
  char version[16];
  std::snprintf(version, sizeof version, "%08x", asset ? fnv1a(asset->body) : 0u);
  return std::string(path) + "?v=" + version;
}

}  // namespace vitals
