"""The run history on the status page and the probe's own page, in a real
browser (Debian's chromium, headless, over DevTools), and its API.

An HTTP service answers 503 to its first three requests and 200 after:
the probe's strip shows exactly three failed cells, its sparkline's points
are the API's durations drawn by the documented formula, its uptime is
what the runs shown make it, the page fits 390 px without scrolling
sideways, turns dark in a dark-mode browser and loads nothing from outside
the daemon. The probe's page marks the incident on its time axis. A
restart keeps the history: every aggregate the API gave before is given
again after. Screenshots at 1280 and 390 px and of the probe's page are
kept in test-artifacts/ next to the binary."""

import asyncio
import base64
import http.server
import json
import os
import re
import tempfile
import textwrap
import threading
import unittest

from test_status_page import CHROMIUM, Browser, rgb, websockets
from vitals_harness import VITALSD, Daemon, listener, wait_for

ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(VITALSD)), "test-artifacts")


class FlakyHealth(http.server.BaseHTTPRequestHandler):
    """/health: 503 for the first three requests, then 200."""
    served = 0
    lock = threading.Lock()

    def do_GET(self):
        with FlakyHealth.lock:
            FlakyHealth.served += 1
            n = FlakyHealth.served
        code = 503 if n <= 3 else 200
        body = b'{"status":"healthy"}' if code == 200 else b"busy"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


READ_ROW = r"""
(() => {
  const row = document.querySelector('tr.probe[data-probe="api"]');
  if (!row) return null;
  const cells = [...row.querySelectorAll('svg.strip rect')];
  const line = row.querySelector('svg.spark polyline');
  const hour = row.querySelector('dl.uptime dd[data-window="1h"]');
  return {
    complete: document.readyState === 'complete',
    cells: cells.map(c => ({at: Number(c.dataset.at), kind: c.getAttribute('class'),
                            width: c.getBoundingClientRect().width,
                            title: c.querySelector('title').textContent})),
    points: line ? line.getAttribute('points') : '',
    uptimeText: hour && hour.textContent,
    uptimeGood: hour && Number(hour.dataset.good),
    uptimeRuns: hour && Number(hour.dataset.runs),
    link: (row.querySelector('a.probe-link') || {}).href,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    background: getComputedStyle(document.body).backgroundColor,
    bytes: document.documentElement.outerHTML.length,
  };
})()
"""

READ_PROBE_PAGE = r"""
(() => ({
  complete: document.readyState === 'complete',
  ranges: [...document.querySelectorAll('section.range')].map(s => s.id),
  incidentMarks: document.querySelectorAll('#range-1h rect.incident').length,
  failureMarks: document.querySelectorAll('#range-1h rect.failures').length,
  incidentRows: document.querySelectorAll('#incidents tr.incident').length,
  evidence: [...document.querySelectorAll('#incidents details dl')].map(dl => dl.textContent).join('\n'),
  strip: document.querySelectorAll('#runs svg.strip rect.failed').length,
  overflow: document.documentElement.scrollWidth - window.innerWidth,
}))()
"""


def load(browser, url, read, width, dark=False):
    """Opens `url` at `width` px; returns what `read` saw, a screenshot and
    every URL the page requested."""

    async def steps(call, evaluate):
        await call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                   mobile=width < 600)
        await call("Emulation.setEmulatedMedia",
                   features=[{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}])
        await call("Page.enable")
        await call("Page.navigate", url=url)
        seen = None
        for _ in range(500):
            seen = await evaluate(read)
            if seen and seen["complete"]:
                break
            await asyncio.sleep(0.02)
        requested = await evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return seen, base64.b64decode(shot["data"]), requested

    return browser.run(steps)


def keep(name, png):
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, name), "wb") as f:
        f.write(png)


def spark_points(slots):
    """The sparkline under a strip of 60 cells as history_views.hpp
    documents it: one point per (slot, duration), under its cell."""
    top = max(v for _, v in slots)
    return [(5 * i + 2, 23 - 22 * v / top if top > 0 else 23) for i, v in slots]


class StatusHistoryTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.path.exists(CHROMIUM), "chromium is installed by scripts/install-deps")
        self.assertIsNotNone(websockets, "python3-websockets is installed by scripts/install-deps")
        FlakyHealth.served = 0
        self.web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHealth)
        threading.Thread(target=self.web.serve_forever, daemon=True).start()
        self.addCleanup(self.web.server_close)
        self.addCleanup(self.web.shutdown)
        self.port_listener = listener()
        self.addCleanup(self.port_listener.close)
        self.state = tempfile.TemporaryDirectory(prefix="vitals-e2e-history-")
        self.addCleanup(self.state.cleanup)
        self.config = textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            state: {{path: {self.state.name}/state.db}}
            probes:
              - name: api
                type: http
                url: http://127.0.0.1:{self.web.server_address[1]}/health
                interval: 600ms
                timeout: 500ms
              - {{name: cache, type: port, port: {self.port_listener.getsockname()[1]}, interval: 300ms, timeout: 250ms}}
            alerts:
              evaluation_interval: 100ms
              builtin:
                ProbeDown: {{for: 0s}}
            """)

    def start(self):
        d = Daemon(self.config)
        self.addCleanup(d.stop)
        return d

    def history(self, d, range_="1h"):
        status, body = d.get(f"/api/v1/probes/api/history?range={range_}")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def test_the_strip_sparkline_and_uptime_show_the_runs_and_survive_a_restart(self):
        d = self.start()
        # The three failures, an incident for them, and some good runs after.
        wait_for(lambda: sum(r["result"] == "ok" for r in self.history(d)["recent_runs"]) >= 6, what="6 good runs")
        wait_for(lambda: json.loads(d.get("/api/v1/incidents")[1])["incidents"], what="the ProbeDown incident")

        browser = Browser()
        self.addCleanup(browser.close)
        wide, png, requested = load(browser, d.base + "/", READ_ROW, 1280)
        keep("status-history-1280.png", png)
        api = self.history(d)

        # Exactly the three failed runs, as failed cells.
        kinds = [c["kind"] for c in wide["cells"]]
        self.assertEqual(kinds.count("failed"), 3, kinds)
        self.assertEqual(kinds[:3], ["failed"] * 3, "the first three runs failed")
        self.assertTrue(all(c["width"] >= 3 for c in wide["cells"]), "the cells are not drawn")
        self.assertIn("503 Service Unavailable", wide["cells"][0]["title"])

        # The sparkline: the API's durations of the runs the strip shows.
        # The strip is right-aligned in 60 cells: cell j of k is slot 60 - k + j.
        by_time = {r["at_ms"]: r for r in api["recent_runs"]}
        slots = [(60 - len(wide["cells"]) + j, by_time[c["at"]]["duration_seconds"])
                 for j, c in enumerate(wide["cells"]) if c["kind"] != "skipped"]
        drawn = [tuple(map(float, p.split(","))) for p in wide["points"].split()]
        expected = spark_points(slots)
        self.assertEqual(len(drawn), len(expected))
        for (x, y), (ex, ey) in zip(drawn, expected):
            self.assertAlmostEqual(x, ex, delta=0.06)
            self.assertAlmostEqual(y, ey, delta=0.06)

        # Uptime over the last hour: the runs the strip shows (all of them, so far).
        ran = [k for k in kinds if k != "skipped"]
        self.assertEqual(wide["uptimeRuns"], len(ran))
        self.assertEqual(wide["uptimeGood"], ran.count("ok"))
        pct = int(ran.count("ok") / len(ran) * 10000) / 100
        self.assertEqual(wide["uptimeText"], f"{pct:.2f} %")
        # ...and in the API, from the same runs.
        window = api["uptime_windows"]["1h"]
        api_ran = [r for r in api["recent_runs"] if r["result"] != "skipped"]
        self.assertEqual(window["runs"], len(api_ran))
        self.assertEqual(window["good"], sum(r["result"] == "ok" for r in api_ran))

        own = d.base + "/"
        self.assertEqual([u for u in requested if not u.startswith(own)], [], "a request left the daemon's origin")
        self.assertLess(wide["bytes"], 150_000)

        narrow, png, _ = load(browser, d.base + "/", READ_ROW, 390)
        keep("status-history-390.png", png)
        self.assertLessEqual(narrow["overflow"], 0, "the page scrolls sideways at 390 px")
        dark, png, _ = load(browser, d.base + "/", READ_ROW, 1280, dark=True)
        keep("status-history-dark.png", png)
        self.assertLess(sum(rgb(dark["background"])), 120, f"not dark: {dark['background']}")
        self.assertGreater(sum(rgb(wide["background"])), 600, f"not light: {wide['background']}")

        # The probe's page: its charts, the incident on the time axis, its evidence.
        self.assertEqual(wide["link"], d.base + "/probes/api")
        page, png, requested = load(browser, wide["link"], READ_PROBE_PAGE, 1280)
        keep("probe-page.png", png)
        self.assertEqual(page["ranges"], ["range-1h", "range-24h", "range-7d"])
        self.assertGreaterEqual(page["incidentMarks"], 1, "the incident is not on the 1h time axis")
        self.assertGreaterEqual(page["failureMarks"], 1)
        self.assertGreaterEqual(page["incidentRows"], 1)
        self.assertIn("503", page["evidence"])
        self.assertEqual(page["strip"], 3)
        self.assertEqual([u for u in requested if not u.startswith(own)], [])
        page, _, _ = load(browser, wide["link"], READ_PROBE_PAGE, 390)
        self.assertLessEqual(page["overflow"], 0, "the probe's page scrolls sideways at 390 px")

        # A restart keeps the history: what the API gave before, it gives after.
        before = {r: self.history(d, r) for r in ("1h", "24h", "7d")}
        d.stop()
        d = self.start()
        for range_, old in before.items():
            new = {p["start"]: p for p in self.history(d, range_)["points"]}
            self.assertTrue(old["points"], range_)
            for i, p in enumerate(old["points"]):
                self.assertIn(p["start"], new, f"{range_}: the aggregate of {p['start']} is gone after a restart")
                q = new[p["start"]]
                if i < len(old["points"]) - 1:
                    self.assertEqual(q, p, range_)
                else:
                    # Still open: it goes on counting the runs after the restart.
                    self.assertGreaterEqual(q["runs"], p["runs"], range_)
                    self.assertEqual((q["failed"], q["timed_out"]), (p["failed"], p["timed_out"]), range_)
        after = self.history(d)
        self.assertEqual(sum(p["failed"] for p in after["points"]), 3, "the failed runs are lost after a restart")
        hour = after["uptime_windows"]["1h"]
        self.assertGreaterEqual(hour["runs"] - hour["good"], 3, "the uptime after a restart lost the failed runs")


if __name__ == "__main__":
    unittest.main()
