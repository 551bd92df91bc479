"""Runbook links that open: the daemon serves its runbooks (docs/runbooks/*.md,
built in) at /runbooks/NAME, and every runbook link it gives out — on the
status page, in /api/v1/alerts — opens one of them, as served and in a real
browser, under the same Content-Security-Policy as the status page.

The daemon runs the demo's config (config/demo.yaml, what scripts/demo and
the README start) with its targets replaced by this test's, several built-in
alerts made to fire at once, and no runbook_base_url: the default a user of
a checkout gets."""

import asyncio
import http.server
import json
import os
import re
import socket
import subprocess
import tempfile
import textwrap
import threading
import unittest
import urllib.error
import urllib.parse
import urllib.request

from test_status_page import CHROMIUM, AssetCollector, Browser, websockets
from vitals_harness import VITALSD, Daemon, free_port, wait_for

SOURCE_DIR = os.environ.get(
    "VITALS_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
RUNBOOKS = os.path.join(SOURCE_DIR, "docs", "runbooks")

# Built-ins the demo's probes raise against this test's targets (the API
# port held by this Python process instead of node, nothing on the other
# ports), the thresholds of three moved so they fire on a healthy host.
FIRING = {"ProbeDown", "PortConflict", "HTTPHealthFailing", "WebSocketNoPong", "DiskSpaceLow", "ProcessRSSHigh",
          "ProcessFdsNearLimit"}
ALERTS = textwrap.dedent("""\
    alerts:
      evaluation_interval: 100ms
      builtin:
        ProbeDown: {for: 0s}
        HTTPHealthFailing: {for: 0s}
        WebSocketNoPong: {for: 0s}
        DiskSpaceLow: {threshold: 1, for: 0s}
        ProcessRSSHigh: {threshold: 1, for: 0s}
        ProcessFdsNearLimit: {threshold: 0, for: 0s}
    """)


def title_of(name):
    """The runbook's title: the first heading of its Markdown file."""
    path = os.path.join(RUNBOOKS, name + ".md")
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# "):
                return line[2:].strip()
    raise AssertionError(f"{path} has no title line")


def fetch(url):
    """(status, headers, body) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def replaced(text, old, new):
    """`text` with `old` replaced; the demo's config must still have it."""
    assert old in text, f"config/demo.yaml no longer has {old!r}"
    return text.replace(old, new)


def demo_config(work_dir, api_port):
    """config/demo.yaml, pointed at this test's targets and its own directory."""
    with open(os.path.join(SOURCE_DIR, "config", "demo.yaml"), encoding="utf-8") as f:
        text = f.read()
    text = replaced(text, "listen: 127.0.0.1:9273", "listen: 127.0.0.1:0")
    text = replaced(text, "port: 9273", f"port: {free_port()}")
    text = replaced(text, "127.0.0.1:3001", f"127.0.0.1:{api_port}")
    text = replaced(text, "port: 3001", f"port: {api_port}")
    text = replaced(text, "port: 8080", f"port: {free_port()}")
    text = replaced(text, "ws://127.0.0.1:8080/", f"ws://127.0.0.1:{free_port()}/")
    text = replaced(text, "127.0.0.1:6390", f"127.0.0.1:{free_port()}")
    text = replaced(text, "port=5440", f"port={free_port()}")
    text = replaced(text, "/tmp/vitals-demo", work_dir)
    assert not re.search(r"^alerts:", text, re.M), "config/demo.yaml has its own alerts: merge them here"
    return text + ALERTS


class NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(404)

    def log_message(self, *args):
        pass


class NotFoundServer:
    """The API port's holder: an HTTP server in this process that answers 404."""

    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class WebhookReceiver:
    """A webhook receiver in this process: keeps the first payload it is sent."""

    def __init__(self):
        received = self.received = []

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self):
        return self.received[0] if self.received else None

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def status_page_runbooks(d):
    status, html = d.get("/")
    assert status == 200, html
    collector = AssetCollector()
    collector.feed(html)
    collector.close()
    return collector.runbooks


def api_runbooks(d):
    return {a["alertname"]: a["runbook_url"] for a in json.loads(d.get("/api/v1/alerts")[1])["alerts"]}


# What the browser shows of an opened runbook.
READ_RUNBOOK = r"""
(() => ({
  complete: document.readyState === 'complete',
  title: document.title,
  heading: (document.querySelector('main h1') || {textContent: null}).textContent,
  styled: getComputedStyle(document.body).fontFamily.includes('system-ui'),
  links: [...document.querySelectorAll('main a[href]')].map(a => a.href),
}))()
"""


class RunbookLinksTest(unittest.TestCase):
    def start_demo(self):
        api = NotFoundServer()
        self.addCleanup(api.close)
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-demo-")
        self.addCleanup(work.cleanup)
        d = Daemon(demo_config(work.name, api.port))
        self.addCleanup(d.stop)
        wait_for(lambda: FIRING <= set(api_runbooks(d)), limit=30, what=f"{sorted(FIRING)} active")
        return d

    def test_every_runbook_link_of_the_demo_opens_its_runbook(self):
        d = self.start_demo()
        from_api = api_runbooks(d)
        on_page = status_page_runbooks(d)
        self.assertTrue(FIRING <= {urllib.parse.urlsplit(u).path.rsplit("/", 1)[-1] for u in on_page},
                        f"the status page does not link every firing alert's runbook: {on_page}")
        _, status_page_headers, _ = fetch(d.base + "/")
        for url in sorted(set(on_page) | set(from_api.values())):
            with self.subTest(url=url):
                self.assertTrue(url.startswith(d.base + "/runbooks/"), f"{url} is not one of the daemon's pages")
                name = url.rsplit("/", 1)[-1]
                status, headers, body = fetch(url)
                self.assertEqual(status, 200, body)
                self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
                self.assertIn(f"<title>{title_of(name)} — vitals runbooks</title>", body)
                self.assertEqual(headers["Content-Security-Policy"], status_page_headers["Content-Security-Policy"])
                self.assertEqual(headers["X-Frame-Options"], status_page_headers["X-Frame-Options"])
        for name, url in from_api.items():
            self.assertEqual(url, f"{d.base}/runbooks/{name}")

    def test_a_runbook_opens_styled_in_a_browser_and_its_links_open_too(self):
        self.assertTrue(os.path.exists(CHROMIUM), "chromium is installed by scripts/install-deps")
        self.assertIsNotNone(websockets, "python3-websockets is installed by scripts/install-deps")
        d = self.start_demo()
        urls = sorted(set(status_page_runbooks(d)))
        for url in urls:
            self.assertTrue(url.startswith(d.base + "/runbooks/"), f"{url} is not one of the daemon's pages")
        browser = Browser()
        self.addCleanup(browser.close)

        async def steps(call, evaluate):
            await call("Page.enable")
            seen = {}
            for url in urls:
                await call("Page.navigate", url=url)
                for _ in range(500):
                    page = await evaluate(READ_RUNBOOK)
                    if page and page["complete"] and page["heading"]:
                        break
                    await asyncio.sleep(0.02)
                seen[url] = page
            return seen

        for url, page in browser.run(steps).items():
            with self.subTest(url=url):
                title = title_of(url.rsplit("/", 1)[-1])
                self.assertEqual(page["title"], f"{title} — vitals runbooks")
                self.assertEqual(page["heading"], title)
                self.assertTrue(page["styled"], "the status page's stylesheet did not apply")
                # Links to other runbooks stay on the daemon, and open.
                for link in page["links"]:
                    if link.startswith(d.base):
                        status, _, body = fetch(link)
                        self.assertEqual(status, 200, f"{link}: {body}")

    def test_every_built_in_alert_has_its_runbook_served(self):
        d = Daemon("server: {listen: 127.0.0.1:0}\nprobes: []\n")
        self.addCleanup(d.stop)
        rules = subprocess.run([VITALSD, "rules", "-c", d.config_path], capture_output=True, text=True, timeout=60)
        self.assertEqual(rules.returncode, 0, rules.stderr)
        names = re.findall(r"^\s*- alert: (\S+)$", rules.stdout, re.M)
        self.assertIn("ProbeDown", names)
        for name in names:
            with self.subTest(alert=name):
                self.assertTrue(os.path.isfile(os.path.join(RUNBOOKS, name + ".md")),
                                f"docs/runbooks/{name}.md is missing")
                status, headers, body = fetch(f"{d.base}/runbooks/{name}")
                self.assertEqual(status, 200, body)
                self.assertIn(f"<title>{title_of(name)} — vitals runbooks</title>", body)
        status, _, index = fetch(d.base + "/runbooks/")
        self.assertEqual(status, 200, index)
        for name in names:
            self.assertIn(f'href="/runbooks/{name}"', index, f"the index does not link {name}")

    def test_an_unknown_runbook_is_404_and_a_head_answers_without_a_body(self):
        d = Daemon("server: {listen: 127.0.0.1:0}\nprobes: []\n")
        self.addCleanup(d.stop)
        status, _, body = fetch(d.base + "/runbooks/NoSuchAlert")
        self.assertEqual(status, 404)
        self.assertEqual(body, 'no runbook named "NoSuchAlert"; every runbook is listed at /runbooks/\n')
        # HEAD, then GET on the same connection: the HEAD answer has the
        # page's headers and no body, so the next bytes are the next answer.
        _, _, page = fetch(d.base + "/runbooks/ProbeDown")
        with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
            s.sendall(b"HEAD /runbooks/ProbeDown HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            replies = b""
            while chunk := s.recv(65536):
                replies += chunk
        head, _, rest = replies.decode().partition("\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200 OK\r\n"), head)
        self.assertIn("Content-Type: text/html; charset=utf-8\r\n", head + "\r\n")
        self.assertIn(f"Content-Length: {len(page.encode())}", head)
        self.assertTrue(rest.startswith("HTTP/1.1 200 OK\r\n"), rest[:200])

    def test_alerts_link_runbooks_under_the_external_url(self):
        hook = WebhookReceiver()
        self.addCleanup(hook.close)
        d = Daemon(textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0, external_url: "https://vitals.example.com/ops"}}
            probes:
              - {{name: api, type: port, port: {free_port()}, interval: 100ms, timeout: 80ms}}
            alerts:
              evaluation_interval: 100ms
              builtin:
                ProbeDown: {{for: 0s}}
            notify:
              webhook: {{url: "http://127.0.0.1:{hook.port}/hook"}}
            """))
        self.addCleanup(d.stop)
        links = wait_for(lambda: api_runbooks(d), what="ProbeDown active")
        self.assertEqual(links, {"ProbeDown": "https://vitals.example.com/ops/runbooks/ProbeDown"})
        [alert] = wait_for(lambda: hook.alerts(), what="a webhook call")["alerts"]
        self.assertEqual(alert["annotations"]["runbook_url"], "https://vitals.example.com/ops/runbooks/ProbeDown")
        self.assertTrue(alert["generatorURL"].startswith("https://vitals.example.com/ops/"), alert["generatorURL"])

    def test_a_webhook_gets_the_runbook_at_the_listen_address_by_default(self):
        hook = WebhookReceiver()
        self.addCleanup(hook.close)
        d = Daemon(textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            probes:
              - {{name: api, type: port, port: {free_port()}, interval: 100ms, timeout: 80ms}}
            alerts:
              evaluation_interval: 100ms
              builtin:
                ProbeDown: {{for: 0s}}
            notify:
              webhook: {{url: "http://127.0.0.1:{hook.port}/hook"}}
            """))
        self.addCleanup(d.stop)
        [alert] = wait_for(lambda: hook.alerts(), what="a webhook call")["alerts"]
        url = alert["annotations"]["runbook_url"]
        self.assertEqual(url, f"{d.base}/runbooks/ProbeDown")
        status, _, body = fetch(url)
        self.assertEqual(status, 200, body)
        self.assertIn(f"<title>{title_of('ProbeDown')} — vitals runbooks</title>", body)

if __name__ == "__main__":
    unittest.main()
