"""The status page in a real browser (Debian's chromium, headless): a failing
probe is shown red with its cause, a firing alert links its runbook, the
incident is listed, and the page fits a phone-sized screen. A screenshot is
kept next to the test binaries (test-artifacts/status-page.png)."""

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import urllib.request

from vitals_harness import VITALSD, Daemon, free_port, wait_for

# Debian's python3-websockets is installed for the system Python; another
# Python 3.11 on PATH can use it from there.
try:
    import websockets
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websockets
    except ImportError:  # reported by the test below
        websockets = None

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    """Headless Chromium driven over the DevTools protocol."""

    def __init__(self):
        # Chromium's helper processes may still write to the profile for a
        # moment after the group is killed.
        self.profile = tempfile.TemporaryDirectory(prefix="vitals-e2e-chromium-", ignore_cleanup_errors=True)
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", f"--user-data-dir={self.profile.name}", "--remote-debugging-port=0",
             "--remote-debugging-address=127.0.0.1", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.endpoint = None
        for line in self.proc.stderr:
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                self.endpoint = m.group(1)
                break
        assert self.endpoint, "chromium did not start its DevTools endpoint"
        port = re.search(r":(\d+)/", self.endpoint).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.loads(r.read()) if t["type"] == "page"]
        self.page_ws = pages[0]["webSocketDebuggerUrl"]

    def close(self):
        # The browser and its renderer, GPU and zygote processes.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc.stderr.close()
        for _ in range(100):  # children killed with the group may still be exiting
            shutil.rmtree(self.profile.name, ignore_errors=True)
            if not os.path.exists(self.profile.name):
                break
            time.sleep(0.05)
        self.profile.cleanup()

    def run(self, steps):
        return asyncio.run(self._run(steps))

    async def _run(self, steps):
        async with websockets.connect(self.page_ws, max_size=None) as ws:
            next_id = 0

            async def call(method, **params):
                nonlocal next_id
                next_id += 1
                await ws.send(json.dumps({"id": next_id, "method": method, "params": params}))
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if msg.get("id") == next_id:
                        if "error" in msg:
                            raise AssertionError(f"{method}: {msg['error']}")
                        return msg["result"]

            async def evaluate(expr):
                r = await call("Runtime.evaluate", expression=expr, returnByValue=True)
                return r["result"].get("value")

            return await steps(call, evaluate)


# What the test reads off the rendered page, in the browser.
READ_PAGE = r"""
(() => {
  const row = document.querySelector('tr.probe[data-probe="api"]');
  const badge = row && row.querySelector('.badge');
  const cause = row && row.querySelector('td.cause');
  const link = document.querySelector('tr.alert.firing a.runbook');
  return {
    complete: document.readyState === 'complete',
    badgeText: badge && badge.textContent,
    badgeColor: badge && getComputedStyle(badge).backgroundColor,
    causeText: cause && cause.textContent,
    causeColor: cause && getComputedStyle(cause).color,
    runbook: link && link.href,
    incidents: document.querySelectorAll('#incidents tr.incident').length,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  };
})()
"""


def rgb(css):
    return tuple(int(x) for x in re.findall(r"\d+", css)[:3])


@unittest.skipUnless(os.path.exists(CHROMIUM), "chromium is installed by scripts/install-deps")
class StatusPageTest(unittest.TestCase):
    def test_a_failing_probe_is_red_with_its_cause_and_the_alert_links_its_runbook(self):
        self.assertIsNotNone(websockets, "python3-websockets is installed by scripts/install-deps")
        closed = free_port()
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        d = Daemon(textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            probes:
              - {{name: api, type: port, port: {closed}, interval: 200ms, timeout: 150ms}}
              - {{name: cache, type: port, port: {listener.getsockname()[1]}, interval: 200ms, timeout: 150ms}}
            alerts:
              evaluation_interval: 100ms
              runbook_base_url: https://runbooks.example/vitals/
              builtin:
                ProbeDown: {{for: 200ms}}
            """))
        self.addCleanup(d.stop)
        wait_for(lambda: json.loads(d.get("/api/v1/incidents")[1])["incidents"], what="ProbeDown firing")

        browser = Browser()
        self.addCleanup(browser.close)

        async def steps(call, evaluate):
            # A phone-sized screen.
            await call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
            await call("Page.enable")
            await call("Page.navigate", url=d.base + "/")
            for _ in range(500):
                seen = await evaluate(READ_PAGE)
                if seen and seen["complete"] and seen["badgeText"]:
                    break
                await asyncio.sleep(0.02)
            shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            return seen, base64.b64decode(shot["data"])

        seen, png = browser.run(steps)
        artifacts = os.path.join(os.path.dirname(os.path.abspath(VITALSD)), "test-artifacts")
        os.makedirs(artifacts, exist_ok=True)
        with open(os.path.join(artifacts, "status-page.png"), "wb") as f:
            f.write(png)

        self.assertEqual(seen["badgeText"], "down")
        r, g, b = rgb(seen["badgeColor"])
        self.assertTrue(r > 150 and g < 80 and b < 80, f"down badge is not red: {seen['badgeColor']}")
        self.assertIn(f"port {closed} closed (connection refused)", seen["causeText"])
        r, g, b = rgb(seen["causeColor"])
        self.assertTrue(r > 150 and g < 80 and b < 80, f"cause is not red: {seen['causeColor']}")
        self.assertEqual(seen["runbook"], "https://runbooks.example/vitals/ProbeDown.md")
        self.assertGreaterEqual(seen["incidents"], 1)
        self.assertLessEqual(seen["overflow"], 0, "the page scrolls sideways on a narrow screen")
        self.assertTrue(png.startswith(b"\x89PNG"))


if __name__ == "__main__":
    unittest.main()
