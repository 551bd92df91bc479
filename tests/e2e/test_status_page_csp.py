"""The status page under the strict Content-Security-Policy the server sends
(no inline script or style, nothing from elsewhere), in a real browser
(Debian's chromium, headless, over the DevTools protocol): it renders with
its stylesheet, its script runs, and the browser reports no violation.

The browser is made to enforce the policy whatever the server sends: each
response of the daemon gets the policy added on its way in (Fetch domain),
so the test holds the page to it even where a web config would loosen it.
A page with inline script and style, served the same way, must show
violations, so a quiet console means something."""

import asyncio
import base64
import http.server
import json
import os
import threading
import unittest

from test_status_page import CHROMIUM, Browser, rgb, start_daemon_with_a_firing_alert, websockets

POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

# Installed before any script of the page: every violation the browser
# reports to the page, kept where the test can read it.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""

READ_PAGE = r"""
(() => {
  const badge = document.querySelector('tr.probe .badge.down');
  return {
    complete: document.readyState === 'complete',
    violations: window.__violations || [],
    refresh: (document.getElementById('refresh') || {}).textContent || '',
    stylesheets: document.styleSheets.length,
    badgeColor: badge ? getComputedStyle(badge).backgroundColor : '',
  };
})()
"""


def load_under_policy(browser, url, origin):
    """Opens `url` with POLICY added to every response from `origin`; returns
    what READ_PAGE saw once the page is complete, and the console's errors."""

    async def run():
        async with websockets.connect(browser.page_ws, max_size=None) as ws:
            ids = iter(range(1, 1_000_000))
            console = []
            pending = {}

            async def send(method, **params):
                n = next(ids)
                pending[n] = asyncio.get_running_loop().create_future()
                await ws.send(json.dumps({"id": n, "method": method, "params": params}))
                return await asyncio.wait_for(pending[n], 30)

            async def pump():
                async for raw in ws:
                    msg = json.loads(raw)
                    if "id" in msg and msg["id"] in pending:
                        if "error" in msg:
                            pending[msg["id"]].set_exception(AssertionError(f"{msg['error']}"))
                        else:
                            pending[msg["id"]].set_result(msg.get("result", {}))
                    elif msg.get("method") == "Fetch.requestPaused":
                        asyncio.ensure_future(add_policy(msg["params"]))
                    elif msg.get("method") == "Log.entryAdded":
                        entry = msg["params"]["entry"]
                        if entry.get("level") == "error":
                            console.append(entry.get("text", ""))

            async def add_policy(paused):
                # The response as the server sent it, with the policy added
                # (fulfilled anew: headers changed on the way through are
                # not what Chromium enforces a policy from).
                body = await send("Fetch.getResponseBody", requestId=paused["requestId"])
                if not body.get("base64Encoded"):
                    body["body"] = base64.b64encode(body["body"].encode()).decode()
                headers = paused.get("responseHeaders", []) + [{"name": "Content-Security-Policy", "value": POLICY}]
                await send("Fetch.fulfillRequest", requestId=paused["requestId"],
                           responseCode=paused.get("responseStatusCode", 200), responseHeaders=headers,
                           body=body["body"])

            reader = asyncio.ensure_future(pump())
            try:
                await send("Page.enable")
                await send("Log.enable")
                await send("Page.addScriptToEvaluateOnNewDocument", source=RECORD_VIOLATIONS)
                await send("Fetch.enable", patterns=[{"urlPattern": origin + "/*", "requestStage": "Response"}])
                await send("Page.navigate", url=url)
                seen = None
                for _ in range(500):
                    r = await send("Runtime.evaluate", expression=READ_PAGE, returnByValue=True)
                    seen = r["result"].get("value")
                    if seen and seen["complete"]:
                        break
                    await asyncio.sleep(0.02)
                # Violations are reported as tasks after the element that
                # caused them: one more round trip lets the last ones land.
                r = await send("Runtime.evaluate", expression=READ_PAGE, returnByValue=True)
                return r["result"].get("value"), console
            finally:
                reader.cancel()

    return asyncio.run(run())


class InlinePage(http.server.BaseHTTPRequestHandler):
    BODY = (b"<!doctype html><html><head><style>body{color:red}</style></head><body>"
            b"<p id='refresh'></p><script>document.getElementById('refresh').textContent='ran'</script></body></html>")

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, *args):
        pass


class StatusPageCspTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.path.exists(CHROMIUM), "chromium is installed by scripts/install-deps")
        self.assertIsNotNone(websockets, "python3-websockets is installed by scripts/install-deps")
        self.browser = Browser()
        self.addCleanup(self.browser.close)

    def test_inline_script_and_style_are_reported_as_violations(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), InlinePage)
        self.addCleanup(server.server_close)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        origin = f"http://127.0.0.1:{server.server_address[1]}"

        seen, _ = load_under_policy(self.browser, origin + "/", origin)

        directives = " ".join(seen["violations"])
        self.assertIn("script-src-elem", directives)
        self.assertIn("style-src-elem", directives)
        self.assertEqual(seen["refresh"], "", "an inline script ran under script-src 'self'")

    def test_the_status_page_renders_and_runs_its_script_without_a_violation(self):
        d, _ = start_daemon_with_a_firing_alert(self)

        seen, console = load_under_policy(self.browser, d.base + "/", d.base)

        self.assertTrue(seen["complete"])
        self.assertEqual(seen["violations"], [], "the status page breaks its Content-Security-Policy")
        self.assertEqual([line for line in console if "Content Security Policy" in line], [])
        self.assertEqual(seen["refresh"], " · refreshes every 10 s", "the page's script did not run")
        self.assertEqual(seen["stylesheets"], 1)
        r, g, b = rgb(seen["badgeColor"])
        self.assertTrue(r > 150 and g < 80 and b < 80, f"the stylesheet is not applied: {seen['badgeColor']}")

    def test_a_probes_page_with_its_charts_renders_without_a_violation(self):
        d, _ = start_daemon_with_a_firing_alert(self)

        seen, console = load_under_policy(self.browser, d.base + "/probes/api", d.base)

        self.assertTrue(seen["complete"])
        self.assertEqual(seen["violations"], [], "the probe's page breaks its Content-Security-Policy")
        self.assertEqual([line for line in console if "Content Security Policy" in line], [])
        self.assertEqual(seen["refresh"], " · refreshes every 10 s", "the page's script did not run")
        self.assertEqual(seen["stylesheets"], 1)


if __name__ == "__main__":
    unittest.main()
