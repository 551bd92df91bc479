"""HTTP and WebSocket probes through the real daemon: health-payload fields as
gauges on /metrics, a third-party WebSocket server kept connected, and
`vitalsd check` returning even with a persistent connection configured."""

import http.server
import json
import os
import subprocess
import tempfile
import textwrap
import threading
import unittest

from vitals_harness import VITALSD, Daemon, sample, wait_for

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


class HealthHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/api/health":
            body = json.dumps({"status": "healthy", "metrics": {"totalErrors": 7}, "memory": {"heapUsed": 1048576}})
            self.send_response(200)
        else:
            body = json.dumps({"status": "unhealthy", "database": "disconnected"})
            self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


class WebProbesTest(unittest.TestCase):
    def setUp(self):
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HealthHandler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.addCleanup(self.http.server_close)
        self.addCleanup(self.http.shutdown)
        # Debian's python3-websockets lives with the system Python.
        self.ws = subprocess.Popen(["/usr/bin/python3", os.path.join(FIXTURES, "ws_pong_server.py"), "0"],
                                   stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.ws.stdout.close)
        self.addCleanup(self.ws.wait)
        self.addCleanup(self.ws.kill)
        self.ws_port = int(self.ws.stdout.readline().split()[1])
        self.config = textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            probes:
              - name: api-health
                type: http
                url: http://127.0.0.1:{self.http.server_address[1]}/api/health
                expect_json: {{status: healthy}}
                extract: {{errors: .metrics.totalErrors, heap: .memory.heapUsed}}
                interval: 300ms
                timeout: 250ms
              - name: ready
                type: http
                url: http://127.0.0.1:{self.http.server_address[1]}/health/ready
                interval: 300ms
                timeout: 250ms
              - name: ws
                type: websocket
                url: ws://127.0.0.1:{self.ws_port}/
                send: '{{"type":"ping"}}'
                expect_json: {{type: pong}}
                persistent: true
                interval: 300ms
                timeout: 250ms
            """)

    def test_payload_fields_become_gauges_and_the_socket_stays_connected(self):
        d = Daemon(self.config)
        self.addCleanup(d.stop)
        m = wait_for(lambda: (lambda m: m if (sample(m, "vitals_websocket_roundtrip_seconds", probe="ws") is not None
                                               and sample(m, "vitals_http_json_value", probe="api-health") is not None
                                               and sample(m, "vitals_probe_success", probe="ready") is not None)
                              else None)(d.metrics()), what="all three probes to report")
        self.assertEqual(sample(m, "vitals_http_json_value", probe="api-health", field="errors"), 7)
        self.assertEqual(sample(m, "vitals_http_json_value", probe="api-health", field="heap"), 1048576)
        self.assertEqual(sample(m, "vitals_probe_success", probe="api-health"), 1)
        self.assertEqual(sample(m, "vitals_probe_success", probe="ready"), 0)
        self.assertEqual(sample(m, "vitals_http_status_code", probe="ready"), 503)
        self.assertEqual(sample(m, "vitals_websocket_connected", probe="ws"), 1)
        self.assertEqual(sample(m, "vitals_websocket_disconnects_total", probe="ws"), 0)
        status, body = d.get("/api/v1/probes")
        ready = next(p for p in json.loads(body)["probes"] if p["name"] == "ready")
        self.assertEqual(ready["last"]["reason"], "unavailable")
        self.assertIn('"database":"disconnected"', ready["last"]["error"].replace(" ", ""))

    def test_check_returns_with_a_persistent_connection_configured(self):
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-web-")
        self.addCleanup(work.cleanup)
        path = os.path.join(work.name, "vitals.yaml")
        with open(path, "w") as f:
            f.write(self.config)
        done = subprocess.run([VITALSD, "check", "-c", path], capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, NO_COLOR="1"))
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)  # "ready" fails: 503
        self.assertIn("✓ ws", done.stdout)
        self.assertIn("[unavailable]", done.stdout)


if __name__ == "__main__":
    unittest.main()
