"""The status page in a real browser (Debian's chromium, headless): a failing
probe is shown red with its cause, a firing alert links its runbook, the
incident is listed, and the page fits a phone-sized screen. A screenshot is
kept next to the test binaries (test-artifacts/status-page.png).

And the page as served: self-contained, every asset it loads (scripts,
stylesheets, images, fonts, frames, link tags, CSS url() and @import) comes
from the daemon itself. Runbook links are navigation and may point anywhere."""

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
import urllib.parse
import urllib.request
from html.parser import HTMLParser

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


# Elements whose URL attributes the browser fetches as part of the page.
# <a> and <area> are navigation (runbook links among them), <form> a
# destination: neither is loaded with the page.
ASSET_ATTRIBUTES = {
    "script": ("src",), "link": ("href",), "img": ("src", "srcset"), "source": ("src", "srcset"),
    "iframe": ("src",), "frame": ("src",), "embed": ("src",), "object": ("data",),
    "video": ("src", "poster"), "audio": ("src",), "track": ("src",), "input": ("src",),
    "image": ("href", "xlink:href"), "use": ("href", "xlink:href"), "base": ("href",),
}
# CSS url(...) and @import "..." (either spelling of @import's URL).
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.I | re.S)
# An inline script naming another origin: an absolute or scheme-relative URL in a string.
SCRIPT_URL = re.compile(r"""(['"`])((?:[a-z][a-z0-9+.-]*:)?//[^'"`]*)\1""", re.I)


class AssetCollector(HTMLParser):
    """Every URL a page makes the browser load, as (where, url); and its runbook links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.assets = []
        self.runbooks = []
        self._in = None  # "style" or "script" while inside one

    def handle_starttag(self, tag, attrs):
        attrs = [(k.lower(), v or "") for k, v in attrs]
        for name, value in attrs:
            if name in ASSET_ATTRIBUTES.get(tag, ()):
                candidates = [c.split()[0] for c in value.split(",") if c.split()] if name == "srcset" else [value]
                self.assets += [(f"<{tag} {name}>", url) for url in candidates]
            elif name == "style":
                self.assets += [(f"<{tag} style>", url) for url in css_urls(value)]
        if tag == "meta" and dict(attrs).get("http-equiv", "").lower() == "refresh":
            m = re.search(r"url\s*=\s*['\"]?([^'\"]+)", dict(attrs).get("content", ""), re.I)
            if m:
                self.assets.append(("<meta refresh>", m.group(1)))
        if tag == "a" and "runbook" in dict(attrs).get("class", "").split():
            self.runbooks.append(dict(attrs).get("href", ""))
        if tag in ("style", "script"):
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self.assets += [("<style>", url) for url in css_urls(data)]
        elif self._in == "script":
            self.assets += [("<script> text", m.group(2)) for m in SCRIPT_URL.finditer(data)]


def css_urls(css):
    return [m.group(2) if m.group(2) is not None else m.group(4) for m in CSS_URL.finditer(css)]


def foreign_assets(html, page_url):
    """The assets of `html` served from anywhere but the page's own origin.
    data: URLs are part of the page itself and pass."""
    collector = AssetCollector()
    collector.feed(html)
    collector.close()
    own = urllib.parse.urlsplit(page_url)
    foreign = []
    for where, url in collector.assets:
        resolved = urllib.parse.urlsplit(urllib.parse.urljoin(page_url, url.strip()))
        if resolved.scheme == "data":
            continue
        if (resolved.scheme, resolved.netloc) != (own.scheme, own.netloc):
            foreign.append(f"{where} {url}")
    return foreign, collector.runbooks


def start_daemon_with_a_firing_alert(test):
    """A daemon whose probe `api` is down and ProbeDown firing (an incident
    logged), with runbooks on another site."""
    closed = free_port()
    listener = socket.socket()
    test.addCleanup(listener.close)
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
    test.addCleanup(d.stop)
    wait_for(lambda: json.loads(d.get("/api/v1/incidents")[1])["incidents"], what="ProbeDown firing")
    return d, closed


class StatusPageAssetsTest(unittest.TestCase):
    def test_the_checker_finds_every_kind_of_external_asset(self):
        # The check below is only as good as what it can see.
        page = "http://127.0.0.1:9100/"
        html = textwrap.dedent("""\
            <html><head>
            <link rel="stylesheet" href="https://cdn.example/a.css">
            <link rel="icon" href="//cdn.example/favicon.ico">
            <script src="http://cdn.example/x.js"></script>
            <style>@import "https://fonts.example/f.css"; @font-face { src: url('https://fonts.example/f.woff2') }</style>
            </head><body style="background: url(http://img.example/bg.png)">
            <img src="/ok.png" srcset="/ok-2x.png 2x, https://img.example/hi.png 3x">
            <iframe src="http://127.0.0.1:9101/"></iframe>
            <script>fetch("https://api.example/x")</script>
            <a class="runbook" href="https://runbooks.example/ProbeDown.md">runbook</a>
            <img src="data:image/png;base64,AAAA"><script src="/self.js"></script><a href="/metrics">m</a>
            </body></html>""")
        foreign, runbooks = foreign_assets(html, page)
        self.assertEqual(sorted(foreign), sorted([
            "<link href> https://cdn.example/a.css",
            "<link href> //cdn.example/favicon.ico",
            "<script src> http://cdn.example/x.js",
            "<style> https://fonts.example/f.css",
            "<style> https://fonts.example/f.woff2",
            "<body style> http://img.example/bg.png",
            "<img srcset> https://img.example/hi.png",
            "<iframe src> http://127.0.0.1:9101/",  # another port is another origin
            "<script> text https://api.example/x",
        ]))
        self.assertEqual(runbooks, ["https://runbooks.example/ProbeDown.md"])

    def test_the_page_loads_nothing_from_outside_the_daemon(self):
        d, _ = start_daemon_with_a_firing_alert(self)
        status, html = d.get("/")
        self.assertEqual(status, 200)
        self.assertIn('<link rel="stylesheet" href="/static/status.css', html)  # its own stylesheet, from the daemon
        foreign, runbooks = foreign_assets(html, d.base + "/")
        self.assertEqual(foreign, [], "the status page loads assets from elsewhere")
        # Runbook links may leave the daemon: they are navigation, not assets.
        self.assertIn("https://runbooks.example/vitals/ProbeDown.md", runbooks)


class StatusPageTest(unittest.TestCase):
    def test_a_failing_probe_is_red_with_its_cause_and_the_alert_links_its_runbook(self):
        self.assertTrue(os.path.exists(CHROMIUM), "chromium is installed by scripts/install-deps")
        self.assertIsNotNone(websockets, "python3-websockets is installed by scripts/install-deps")
        d, closed = start_daemon_with_a_firing_alert(self)

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
