"""The state store when its file goes wrong under a running vitalsd: deleted
while alerts fire (noticed, and everything the daemon holds is written to a
new file, so a restart loses nothing), and empty from the start (refused and
left as it is, like any file that cannot be read)."""

import json
import os
import socket
import subprocess
import tempfile
import textwrap
import threading
import unittest

from vitals_harness import VITALSD, Daemon, free_port, sample, wait_for


def incidents_cli(*args):
    out = subprocess.run([VITALSD, "incidents", *args], capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout, out.stderr


class StateFaultsTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.TemporaryDirectory(prefix="vitals-e2e-state-faults-")
        self.addCleanup(self.work.cleanup)
        self.state = os.path.join(self.work.name, "state.db")
        self.ports = [free_port() for _ in range(4)]  # closed: every probe fails

    def config(self):
        probes = "\n".join(f"  - {{name: api{n}, type: port, port: {port}, interval: 100ms, timeout: 80ms}}"
                           for n, port in enumerate(self.ports))
        return textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            state: {{path: {self.state}}}
            alerts:
              evaluation_interval: 100ms
              builtin:
                ProbeDown: {{for: 200ms}}
            probes:
            """) + probes + "\n"

    def start(self):
        d = Daemon(self.config())
        self.addCleanup(d.stop)
        return d

    def api_incidents(self, d):
        status, body = d.get("/api/v1/incidents")
        self.assertEqual(status, 200, body)
        return json.loads(body)["incidents"]

    def stored_incidents(self):
        code, out, err = incidents_cli("--state", self.state, "--json")
        return json.loads(out)["incidents"] if code == 0 else []

    def bring_up(self, port):
        """A server on the probe's port that takes every connection: its ProbeDown resolves and stays so."""
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(16)

        def serve():
            while True:
                try:
                    s.accept()[0].close()
                except OSError:
                    return  # closed at cleanup
        threading.Thread(target=serve, daemon=True).start()
        self.addCleanup(s.close)
        self.addCleanup(s.shutdown, socket.SHUT_RDWR)  # first: wakes the accept()

    def test_a_state_file_deleted_under_the_running_daemon_is_written_again_and_a_restart_keeps_everything(self):
        d = self.start()
        wait_for(lambda: len(self.stored_incidents()) == len(self.ports), what="every incident in the file")
        ids = sorted(i["id"] for i in self.api_incidents(d))

        for suffix in ("", "-wal", "-shm"):
            os.unlink(self.state + suffix)
        self.bring_up(self.ports[0])  # a transition: the daemon writes, and finds the file gone
        wait_for(lambda: d.find_log(r"state\.db was deleted .*STATE STORE FAILING"), what="the deletion noticed")
        wait_for(lambda: d.find_log(r"writable again"), what="a new file written")
        self.assertEqual(sample(d.metrics(), "vitals_state_store_healthy"), 1)
        wait_for(lambda: [i for i in self.stored_incidents() if i["resolved"]], what="the resolution written")
        d.stop()

        stored = self.stored_incidents()
        self.assertEqual(sorted(i["id"] for i in stored), ids)
        self.assertEqual([i["labels"]["probe"] for i in stored if i["resolved"]], ["api0"])
        again = self.start()
        wait_for(lambda: again.find_log(rf"state: .* 3 saved alert\(s\), {len(ids)} incident\(s\)"),
                 what="everything loaded after the restart")

    def test_an_empty_state_file_is_refused_and_left_empty(self):
        open(self.state, "wb").close()  # truncated to nothing while vitalsd was stopped
        d = self.start()
        line = wait_for(lambda: d.find_log(r"STATE STORE FAILING"), what="a loud log line")
        self.assertIn("state.db is empty", line)
        self.assertEqual(sample(d.metrics(), "vitals_state_store_healthy"), 0)
        wait_for(lambda: len(self.api_incidents(d)) == len(self.ports), what="incidents kept in memory")
        self.assertEqual(os.path.getsize(self.state), 0)
        code, _, err = incidents_cli("--state", self.state)
        self.assertEqual(code, 1)
        self.assertIn("is empty", err)

        os.unlink(self.state)  # what the log says to do for a fresh start
        wait_for(lambda: sample(d.metrics(), "vitals_state_store_healthy") == 1, what="the store to recover")
        wait_for(lambda: len(self.stored_incidents()) == len(self.ports), what="the incidents written")


if __name__ == "__main__":
    unittest.main()
