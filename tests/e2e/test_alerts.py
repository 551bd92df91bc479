"""A failing probe becomes a pending, then a firing alert after `for`, and
resolves when the probe recovers: in the log and in vitals_alerts."""

import json
import socket
import textwrap
import unittest

from vitals_harness import Daemon, free_port, sample, wait_for


class AlertsTest(unittest.TestCase):
    def test_probe_down_goes_pending_firing_resolved(self):
        port = free_port()  # nothing listens yet: the port probe fails
        d = Daemon(textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            probes:
              - {{name: api, type: port, port: {port}, interval: 100ms, timeout: 80ms}}
            alerts:
              evaluation_interval: 100ms
              builtin:
                ProbeDown: {{for: 500ms}}
            """))
        self.addCleanup(d.stop)

        wait_for(lambda: d.find_log(r"alert ProbeDown pending \(high, kind=port,probe=api\)"), what="pending")
        self.assertIsNone(d.find_log(r"alert ProbeDown firing"))  # not before `for` has passed
        firing = wait_for(lambda: d.find_log(r"alert ProbeDown firing \(high, kind=port,probe=api\)"), what="firing")
        self.assertIn("runbook: ", firing)
        wait_for(lambda: sample(d.metrics(), "vitals_alerts", alertname="ProbeDown", severity="high", state="firing") == 1,
                 what="vitals_alerts firing")
        status, body = d.get("/api/v1/alerts")
        self.assertEqual(status, 200)
        [alert] = json.loads(body)["alerts"]
        self.assertEqual(alert["state"], "firing")
        self.assertEqual(alert["labels"]["probe"], "api")
        self.assertEqual(alert["summary"], "api (port) is down")
        self.assertEqual(alert["runbook_url"], f"{d.base}/runbooks/ProbeDown")  # the daemon's own page
        self.assertIsNotNone(alert["firing_since"])

        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        wait_for(lambda: d.find_log(r"alert ProbeDown resolved \(high, kind=port,probe=api\)"), what="resolved")
        wait_for(lambda: sample(d.metrics(), "vitals_alerts", alertname="ProbeDown") is None,
                 what="the vitals_alerts series to go")
        self.assertEqual(json.loads(d.get("/api/v1/alerts")[1])["alerts"], [])


if __name__ == "__main__":
    unittest.main()
