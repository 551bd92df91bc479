"""Under systemd (Type=notify) the daemon reports READY=1 once its probes are
scheduled, RELOADING=1 then READY=1 around a reload, WATCHDOG=1 from its
event loop at half of WATCHDOG_USEC, and STOPPING=1 on SIGTERM. The test owns
the notify socket, as systemd would."""

import os
import signal
import socket
import tempfile
import textwrap
import threading
import unittest

from vitals_harness import Daemon, wait_for


class NotifySocket:
    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="vitals-e2e-notify-")
        self.path = os.path.join(self.dir.name, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            with self._lock:
                self.messages.append(data.decode())

    def received(self):
        with self._lock:
            return list(self.messages)

    def first_index(self, prefix, after=-1):
        for i, m in enumerate(self.received()):
            if i > after and m.startswith(prefix):
                return i
        return None

    def close(self):
        self.sock.close()
        self.dir.cleanup()


CONFIG = textwrap.dedent("""\
    server: {listen: 127.0.0.1:0}
    probes:
      - {name: api, type: port, port: 1, interval: 1s, timeout: 500ms}
    """)


class ServiceNotifyTest(unittest.TestCase):
    def test_ready_reloading_watchdog_and_stopping_arrive_in_order(self):
        notify = NotifySocket()
        self.addCleanup(notify.close)
        d = Daemon(CONFIG, extra_env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"})
        self.addCleanup(d.stop)

        ready = wait_for(lambda: notify.first_index("READY=1"), what="READY=1")
        self.assertIn("STATUS=1 probes from", notify.received()[ready])
        # Pings keep coming from the loop while it runs (every 100 ms here).
        wait_for(lambda: sum(m == "WATCHDOG=1" for m in notify.received()) >= 5, what="watchdog pings")

        d.signal(signal.SIGHUP)
        reloading = wait_for(lambda: notify.first_index("RELOADING=1", ready), what="RELOADING=1")
        self.assertRegex(notify.received()[reloading], r"MONOTONIC_USEC=\d+")
        wait_for(lambda: notify.first_index("READY=1", reloading), what="READY=1 after the reload")

        # A rejected file is a reload too: still READY after it, old config kept.
        d.write_config("probes: [oops\n")
        d.signal(signal.SIGHUP)
        second = wait_for(lambda: notify.first_index("RELOADING=1", reloading), what="the second RELOADING=1")
        wait_for(lambda: notify.first_index("READY=1", second), what="READY=1 after a rejected reload")

        d.signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=10), 0)
        stopping = wait_for(lambda: notify.first_index("STOPPING=1"), what="STOPPING=1")
        self.assertGreater(stopping, second)

    def test_no_watchdog_pings_unless_asked_and_none_meant_for_another_pid(self):
        notify = NotifySocket()
        self.addCleanup(notify.close)
        d = Daemon(CONFIG, extra_env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "100000",
                                      "WATCHDOG_PID": "1"})
        self.addCleanup(d.stop)
        wait_for(lambda: notify.first_index("READY=1") is not None, what="READY=1")
        d.signal(signal.SIGTERM)
        d.proc.wait(timeout=10)
        wait_for(lambda: notify.first_index("STOPPING=1") is not None, what="STOPPING=1")
        self.assertNotIn("WATCHDOG=1", notify.received())

    def test_without_notify_socket_the_daemon_runs_as_usual(self):
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        d = Daemon(CONFIG, extra_env=None)
        self.addCleanup(d.stop)
        status, _ = d.get("/-/healthy")
        self.assertEqual(status, 200)
        del env


if __name__ == "__main__":
    unittest.main()
