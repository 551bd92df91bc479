"""Alerts reach a real Alertmanager (Debian's prometheus-alertmanager) with
their labels, runbook link and generator URL; resolving sends endsAt; an
Alertmanager that is down costs retries, never the daemon's service."""

import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import unittest
import urllib.request

from vitals_harness import Daemon, free_port, sample, wait_for


def am_alerts(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts", timeout=5) as r:
        return json.loads(r.read())


class AlertmanagerTest(unittest.TestCase):
    def start_alertmanager(self, port=None):
        binary = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
        self.assertTrue(os.path.exists(binary), "prometheus-alertmanager is installed by scripts/install-deps")
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-am-")
        self.addCleanup(work.cleanup)
        with open(os.path.join(work.name, "am.yml"), "w") as f:
            f.write("route: {receiver: default, group_wait: 1s}\nreceivers: [{name: default}]\n")
        port = port or free_port()
        proc = subprocess.Popen([binary, f"--config.file={work.name}/am.yml", f"--storage.path={work.name}/data",
                                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.terminate)

        def ready():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(ready, what="Alertmanager ready")
        return port

    def config(self, probe_port, am_port):
        return textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            probes:
              - {{name: api, type: port, port: {probe_port}, interval: 100ms, timeout: 80ms}}
            alerts:
              evaluation_interval: 100ms
              builtin:
                ProbeDown: {{for: 300ms}}
            notify:
              alertmanager: {{url: "http://127.0.0.1:{am_port}"}}
              resend_interval: 1s
            """)

    def test_firing_then_resolved_in_a_real_alertmanager(self):
        am = self.start_alertmanager()
        probe_port = free_port()  # closed: the probe fails
        d = Daemon(self.config(probe_port, am))
        self.addCleanup(d.stop)

        def firing():
            return [a for a in am_alerts(am) if a["labels"].get("alertname") == "ProbeDown"]
        alert = wait_for(firing, what="ProbeDown in Alertmanager")[0]
        self.assertEqual(alert["labels"]["probe"], "api")
        self.assertEqual(alert["labels"]["severity"], "high")
        self.assertEqual(alert["labels"]["instance"], socket.gethostname())
        self.assertTrue(alert["annotations"]["runbook_url"].endswith("/ProbeDown.md"))
        self.assertEqual(alert["annotations"]["summary"], "api (port) is down")
        # What the probe saw when the alert started firing travels with it.
        self.assertIn(f"cause: port {probe_port} closed (connection refused)", alert["annotations"]["evidence"])
        self.assertEqual(alert["generatorURL"], d.base + "/")
        self.assertEqual(alert["status"]["state"], "active")

        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", probe_port))
        listener.listen(16)
        # Resolved: Alertmanager got endsAt and no longer lists it as active.
        wait_for(lambda: not firing(), what="ProbeDown resolved in Alertmanager")
        self.assertGreaterEqual(sample(d.metrics(), "vitals_notifications_total", notifier="alertmanager", result="ok"), 2)

    def test_the_webhook_gets_alertmanagers_payload_shape_with_the_bearer_token(self):
        received = []

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers.get("Authorization"), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=hook.serve_forever, daemon=True).start()
        self.addCleanup(hook.server_close)
        self.addCleanup(hook.shutdown)
        token_file = tempfile.NamedTemporaryFile("w", delete=False)
        self.addCleanup(os.unlink, token_file.name)
        token_file.write("hook-s3cret\n")
        token_file.close()
        config = self.config(free_port(), free_port()).replace(
            "  alertmanager:", f"  webhook: {{url: \"http://127.0.0.1:{hook.server_address[1]}/hook\", "
                               f"bearer_token: \"${{file:{token_file.name}}}\"}}\n  alertmanager:")
        d = Daemon(config)
        self.addCleanup(d.stop)
        auth, payload = wait_for(lambda: received[0] if received else None, what="a webhook call")
        self.assertEqual(auth, "Bearer hook-s3cret")
        self.assertEqual(payload["version"], "4")
        self.assertEqual(payload["status"], "firing")
        self.assertEqual(payload["alerts"][0]["labels"]["alertname"], "ProbeDown")
        self.assertEqual(payload["alerts"][0]["status"], "firing")
        self.assertNotIn("hook-s3cret", "\n".join(d.log()))

    def test_an_alertmanager_that_is_down_costs_only_retries(self):
        down = free_port()  # nothing listens there
        d = Daemon(self.config(free_port(), down))
        self.addCleanup(d.stop)
        wait_for(lambda: (sample(d.metrics(), "vitals_notifications_total", notifier="alertmanager", result="retry") or 0) >= 1,
                 what="a retry")
        # The daemon keeps probing and serving meanwhile.
        runs = sample(d.metrics(), "vitals_probe_runs_total", probe="api", result="fail")
        wait_for(lambda: sample(d.metrics(), "vitals_probe_runs_total", probe="api", result="fail") > runs + 5,
                 what="probe runs to continue")
        started = time.monotonic()
        d.metrics()
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertIsNotNone(d.find_log(r"alert ProbeDown firing"))

    def test_alerts_queued_while_alertmanager_is_down_arrive_when_it_returns(self):
        am_port = free_port()  # Alertmanager starts here only later
        d = Daemon(self.config(free_port(), am_port))
        self.addCleanup(d.stop)
        wait_for(lambda: (sample(d.metrics(), "vitals_notification_queue_length", notifier="alertmanager") or 0) >= 1,
                 what="a batch waiting in the queue")
        started = time.monotonic()
        d.metrics()
        self.assertLess(time.monotonic() - started, 1.0)
        self.start_alertmanager(am_port)
        alerts = wait_for(lambda: [a for a in am_alerts(am_port) if a["labels"].get("alertname") == "ProbeDown"],
                          limit=40, what="the queued alert delivered")
        self.assertEqual(alerts[0]["labels"]["probe"], "api")
        wait_for(lambda: sample(d.metrics(), "vitals_notification_queue_length", notifier="alertmanager") == 0,
                 limit=40, what="the queue to drain")


if __name__ == "__main__":
    unittest.main()
