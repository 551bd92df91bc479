"""The state store: a restart while an alert fires neither re-fires it as new
nor forgets it (same incident, same startsAt), `vitalsd incidents` and
/api/v1/incidents show the log with the evidence captured at firing time,
and a state store that cannot be written costs persistence, not alerting."""

import http.server
import json
import os
import socket
import subprocess
import tempfile
import textwrap
import threading
import unittest

from vitals_harness import VITALSD, Daemon, free_port, sample, wait_for


class Webhook:
    """Collects every alert the daemon posts, in arrival order."""

    def __init__(self):
        self.alerts = []
        lock = threading.Lock()
        self._lock = lock
        received = self.alerts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    received.extend(body["alerts"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self, status=None):
        with self._lock:
            return [a for a in self.alerts if status is None or a["status"] == status]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def incidents_cli(*args):
    out = subprocess.run([VITALSD, "incidents", *args], capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout, out.stderr


class IncidentLogTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.TemporaryDirectory(prefix="vitals-e2e-state-")
        self.addCleanup(self.work.cleanup)
        self.state = os.path.join(self.work.name, "state.db")
        self.hook = Webhook()
        self.addCleanup(self.hook.close)
        self.port = free_port()  # closed: the probe fails

    def config(self, state_path=None):
        return textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            state: {{path: {state_path or self.state}}}
            probes:
              - {{name: api, type: port, port: {self.port}, interval: 100ms, timeout: 80ms}}
            alerts:
              evaluation_interval: 100ms
              builtin:
                ProbeDown: {{for: 300ms}}
            notify:
              webhook: {{url: "{self.hook.url}"}}
              resend_interval: 500ms
            """)

    def incidents(self, d):
        status, body = d.get("/api/v1/incidents")
        self.assertEqual(status, 200, body)
        return json.loads(body)["incidents"]

    def test_a_restart_keeps_the_firing_alert_and_its_incident(self):
        d = Daemon(self.config())
        first = wait_for(lambda: self.hook.received("firing"), what="ProbeDown sent")[0]
        incident = wait_for(lambda: self.incidents(d), what="an incident")[0]
        self.assertEqual(incident["alertname"], "ProbeDown")
        self.assertEqual(incident["labels"]["probe"], "api")
        self.assertIsNone(incident["resolved"])
        # The evidence is what the probe saw when the alert started firing.
        self.assertEqual(incident["evidence"]["reason"], "refused")
        self.assertIn(f"port {self.port} closed", incident["evidence"]["cause"])
        d.stop()

        count_before = len(self.hook.received("firing"))
        d = Daemon(self.config())
        self.addCleanup(d.stop)
        wait_for(lambda: d.find_log(r"state: .* 1 saved alert\(s\), 1 incident\(s\)"), what="the state loaded")
        # Re-sent by the new process with the same start, not announced anew.
        again = wait_for(lambda: self.hook.received("firing")[count_before:], what="ProbeDown re-sent")[0]
        self.assertEqual(again["startsAt"], first["startsAt"])
        wait_for(lambda: (sample(d.metrics(), "vitals_probe_runs_total", probe="api", result="fail") or 0) >= 3,
                 what="the probe to run after the restart")
        wait_for(lambda: sample(d.metrics(), "vitals_alerts", alertname="ProbeDown", state="firing") == 1,
                 what="ProbeDown firing after the restart")
        self.assertIsNone(d.find_log(r"alert ProbeDown (pending|firing)"))
        self.assertEqual([i["id"] for i in self.incidents(d)], [incident["id"]])
        status, body = d.get("/api/v1/alerts")
        alerts = json.loads(body)["alerts"]
        self.assertEqual(len(alerts), 1)
        self.assertEqual(alerts[0]["firing_since"], first["startsAt"])

        # Recovery resolves the same incident and sends endsAt with the same start.
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        resolved = wait_for(lambda: self.hook.received("resolved"), what="ProbeDown resolved")[0]
        self.assertEqual(resolved["startsAt"], first["startsAt"])
        log = wait_for(lambda: [i for i in self.incidents(d) if i["resolved"]], what="the incident resolved")
        self.assertEqual(log[0]["id"], incident["id"])
        d.stop()

        # The log outlives the daemon: the CLI reads the file it left.
        code, out, err = incidents_cli("--state", self.state, "--json")
        self.assertEqual(code, 0, err)
        stored = json.loads(out)["incidents"]
        self.assertEqual(len(stored), 1)
        self.assertEqual(stored[0]["id"], incident["id"])
        self.assertEqual(stored[0]["started"], first["startsAt"])
        self.assertIsNotNone(stored[0]["resolved"])
        code, out, err = incidents_cli("--state", self.state, "--since", "1h")
        self.assertEqual(code, 0, err)
        self.assertIn("resolved", out)
        self.assertIn("ProbeDown", out)
        self.assertIn(f"cause: port {self.port} closed (connection refused)", out)

    def test_incidents_reads_the_state_path_from_the_config(self):
        d = Daemon(self.config())
        self.addCleanup(d.stop)
        wait_for(lambda: self.incidents(d), what="an incident")
        code, out, err = incidents_cli("-c", d.config_path, "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["incidents"][0]["alertname"], "ProbeDown")
        status, body = d.get("/api/v1/incidents?since=nonsense")
        self.assertEqual(status, 400)
        self.assertEqual(d.get("/api/v1/incidents?limit=0")[0], 400)
        status, body = d.get("/api/v1/incidents?since=1h&limit=1")
        self.assertEqual(status, 200)
        self.assertEqual(len(json.loads(body)["incidents"]), 1)

    def test_incidents_without_a_state_file_says_so(self):
        code, out, err = incidents_cli("--state", os.path.join(self.work.name, "absent.db"))
        self.assertEqual(code, 1)
        self.assertIn("no state database", err)

    def test_an_unusable_state_file_degrades_to_memory_and_alerting_goes_on(self):
        corrupt = os.path.join(self.work.name, "corrupt.db")
        garbage = b"this is not a database, and it must stay as it is\n" * 200
        with open(corrupt, "wb") as f:
            f.write(garbage)
        d = Daemon(self.config(corrupt))
        self.addCleanup(d.stop)
        wait_for(lambda: d.find_log(r"STATE STORE FAILING"), what="a loud log line")
        self.assertEqual(sample(d.metrics(), "vitals_state_store_healthy"), 0)
        wait_for(lambda: self.hook.received("firing"), what="ProbeDown sent anyway")
        wait_for(lambda: self.incidents(d), what="the incident kept in memory")
        with open(corrupt, "rb") as f:
            self.assertEqual(f.read(), garbage)

        # Once the file is usable again, what was kept in memory is written.
        os.unlink(corrupt)
        wait_for(lambda: sample(d.metrics(), "vitals_state_store_healthy") == 1, what="the store to recover")
        wait_for(lambda: d.find_log(r"writable again"), what="the recovery logged")
        code, out, err = incidents_cli("--state", corrupt, "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["incidents"][0]["alertname"], "ProbeDown")


if __name__ == "__main__":
    unittest.main()
