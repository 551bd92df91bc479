"""Alerts reach a real Alertmanager (Debian's prometheus-alertmanager) with
their labels, runbook link and generator URL; resolving sends endsAt; an
Alertmanager that is down costs retries, never the daemon's service, and
its peer is named in the notification series. The meta rules shipped for
Prometheus alert only when no peer delivers (promtool test rules)."""

import http.server
import json
import os
import re
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

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("VITALS_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
META_RULES = os.path.join(SOURCE_DIR, "config", "prometheus", "vitals-meta.rules.yml")


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
        self.assertRegex(alert["annotations"]["runbook_url"], r"/ProbeDown(\.md)?$")  # the daemon's page, or a wiki's
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

    def test_each_alertmanager_peer_is_counted_on_its_own_and_named_by_host_and_port(self):
        am = self.start_alertmanager()
        down = free_port()  # a second peer that nothing answers for
        config = self.config(free_port(), am).replace(
            f'alertmanager: {{url: "http://127.0.0.1:{am}"}}',
            f'alertmanager: {{urls: ["http://127.0.0.1:{am}", "http://127.0.0.1:{down}/alertmanager/"]}}')
        d = Daemon(config)
        self.addCleanup(d.stop)
        up_peer, down_peer = f"127.0.0.1:{am}", f"127.0.0.1:{down}"
        wait_for(lambda: [a for a in am_alerts(am) if a["labels"].get("alertname") == "ProbeDown"],
                 what="ProbeDown in the Alertmanager that runs")
        wait_for(lambda: (sample(d.metrics(), "vitals_notifications_total", peer=down_peer, result="retry") or 0)
                 >= 1, what="a retry to the peer that is down")
        wait_for(lambda: (sample(d.metrics(), "vitals_notification_queue_length", peer=down_peer) or 0) >= 1,
                 what="the down peer's batches waiting")
        metrics = d.metrics()
        self.assertGreaterEqual(sample(metrics, "vitals_notifications_total", notifier="alertmanager", peer=up_peer,
                                       result="ok"), 1)
        self.assertEqual(sample(metrics, "vitals_notifications_total", notifier="alertmanager", peer=down_peer,
                                result="ok"), 0)
        self.assertEqual(sample(metrics, "vitals_notification_queue_length", peer=up_peer), 0)
        # The label is host:port only: the path of the URL stays out of it.
        peers = set(re.findall(r'^vitals_notification\w*\{[^}]*peer="([^"]*)"', metrics, re.M))
        self.assertEqual(peers, {up_peer, down_peer})

    def test_scaling_md_shows_the_shipped_meta_rules(self):
        with open(os.path.join(SOURCE_DIR, "docs", "scaling.md")) as f:
            blocks = re.findall(r"```yaml\n(# /etc/prometheus/vitals-meta\.rules\.yml\n.*?)```", f.read(), re.S)
        with open(META_RULES) as f:
            shipped = f.read()
        self.assertEqual(blocks, [shipped], "docs/scaling.md and config/prometheus/vitals-meta.rules.yml differ")

    def test_notifications_failing_fires_only_when_no_peer_of_a_kind_delivers(self):
        promtool = shutil.which("promtool") or "/usr/bin/promtool"
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-meta-")
        self.addCleanup(work.cleanup)
        shutil.copy(META_RULES, os.path.join(work.name, "meta.yml"))
        with open(os.path.join(work.name, "test.yml"), "w") as f:
            f.write(META_RULES_TEST)
        checked = subprocess.run([promtool, "check", "rules", "meta.yml"], cwd=work.name, capture_output=True,
                                 text=True)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        tested = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=work.name, capture_output=True,
                                text=True)
        self.assertEqual(tested.returncode, 0, tested.stdout + tested.stderr)


# dev-01: one Alertmanager peer of two fails, the other delivers. dev-02:
# both fail. dev-03: its only webhook fails. dev-04: one peer failed once,
# then delivered again.
def series(instance, notifier, peer, result, values):
    return (f"      - series: 'vitals_notifications_total{{instance=\"{instance}\",job=\"vitals\","
            f"notifier=\"{notifier}\",peer=\"{peer}\",result=\"{result}\"}}'\n        values: '{values}'\n")


GROWING, FLAT = "0+1x30", "0x30"
META_RULES_TEST = (
    "rule_files: [meta.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"
    + series("dev-01", "alertmanager", "am-1:9093", "ok", GROWING)
    + series("dev-01", "alertmanager", "am-1:9093", "failed", FLAT)
    + series("dev-01", "alertmanager", "am-2:9093", "ok", FLAT)
    + series("dev-01", "alertmanager", "am-2:9093", "failed", GROWING)
    + series("dev-02", "alertmanager", "am-1:9093", "ok", FLAT)
    + series("dev-02", "alertmanager", "am-1:9093", "failed", GROWING)
    + series("dev-02", "alertmanager", "am-2:9093", "ok", FLAT)
    + series("dev-02", "alertmanager", "am-2:9093", "dropped", GROWING)
    + series("dev-03", "webhook", "hooks.example:443", "ok", FLAT)
    + series("dev-03", "webhook", "hooks.example:443", "failed", GROWING)
    + series("dev-04", "alertmanager", "am-1:9093", "ok", "0 0 0 0 0 1+1x20")
    + series("dev-04", "alertmanager", "am-1:9093", "failed", "0 1x24")
    + """    alert_rule_test:
      - eval_time: 20m
        alertname: VitalsNotificationsFailing
        exp_alerts:
          - exp_labels: {instance: dev-02, job: vitals, notifier: alertmanager, severity: medium}
            exp_annotations:
              summary: "vitalsd on dev-02 could not deliver alerts to any alertmanager"
          - exp_labels: {instance: dev-03, job: vitals, notifier: webhook, severity: medium}
            exp_annotations:
              summary: "vitalsd on dev-03 could not deliver alerts to any webhook"
      - eval_time: 20m
        alertname: VitalsNotificationPeerFailing
        exp_alerts:
          - exp_labels: {instance: dev-01, job: vitals, notifier: alertmanager, peer: "am-2:9093", severity: low}
            exp_annotations:
              summary: "vitalsd on dev-01 could not deliver alerts to alertmanager am-2:9093; other peers did"
""")


if __name__ == "__main__":
    unittest.main()
