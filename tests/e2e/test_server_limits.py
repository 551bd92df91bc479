"""Idle and slowloris connections cannot lock Prometheus out of vitalsd's HTTP server."""

import socket
import textwrap
import threading
import time
import unittest
import urllib.request

from vitals_harness import Daemon, sample, wait_for

SLOW_HEADER = b"GET /metrics HTTP/1.1\r\nHost: vitals\r\nX-Slow: " + b"x" * 4000


class Slowloris:
    """Clients that trickle a request header one byte at a time, never finish
    it, and reconnect when the server cuts them off."""

    def __init__(self, address, clients, pace=0.05):
        self.address = address
        self.pace = pace
        self.reconnects = 0
        self._stop = threading.Event()
        self._sockets = [self._connect() for _ in range(clients)]
        self._sent = [0] * clients
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _connect(self):
        return socket.create_connection(self.address, timeout=5)

    def _run(self):
        while not self._stop.wait(self.pace):  # the attack's own pace, not a wait for a result
            for i, s in enumerate(self._sockets):
                try:
                    s.send(SLOW_HEADER[self._sent[i] % len(SLOW_HEADER):][:1])
                    self._sent[i] += 1
                except OSError:
                    s.close()
                    self.reconnects += 1
                    self._sent[i] = 0
                    try:
                        self._sockets[i] = self._connect()
                    except OSError:
                        pass

    def close(self):
        self._stop.set()
        self._thread.join(timeout=10)
        for s in self._sockets:
            s.close()


class ServerLimitsTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon(textwrap.dedent("""\
            server: {listen: 127.0.0.1:0}
            log: {level: info, format: text}
            probes: []
            """))
        self.addCleanup(self.daemon.stop)
        host, port = self.daemon.base.removeprefix("http://").rsplit(":", 1)
        self.address = (host, int(port))

    def get(self, path):
        with urllib.request.urlopen(self.daemon.base + path, timeout=5) as r:
            return r.status, r.read().decode()

    def test_idle_and_slowloris_connections_do_not_lock_out_healthy_and_metrics(self):
        idle = [socket.create_connection(self.address, timeout=5) for _ in range(70)]
        self.addCleanup(lambda: [s.close() for s in idle])
        slow = Slowloris(self.address, clients=30)
        self.addCleanup(slow.close)
        # Every socket above has been connected, so it waits in the accept
        # queue ahead of the requests below: the server meets the whole
        # flood before it meets them.

        for _ in range(20):
            self.assertEqual(self.get("/-/healthy")[0], 200)
            status, body = self.get("/metrics")
            self.assertEqual(status, 200)
        self.assertGreater(sample(body, "vitals_http_connections_dropped_total", reason="evicted"), 0)
        self.assertEqual(sample(body, "vitals_http_connections_dropped_total", reason="refused"), 0)

    def test_evictions_are_logged_at_most_once_per_ten_seconds(self):
        started = time.monotonic()
        slow = Slowloris(self.address, clients=100)
        self.addCleanup(slow.close)
        wait_for(lambda: slow.reconnects >= 100, what="a hundred evictions")
        elapsed = time.monotonic() - started
        lines = [line for line in self.daemon.log() if "http: evicted" in line]
        self.assertGreaterEqual(len(lines), 1)
        self.assertLessEqual(len(lines), int(elapsed // 10) + 1)
        metrics = self.get("/metrics")[1]
        self.assertGreaterEqual(sample(metrics, "vitals_http_connections_dropped_total", reason="evicted"), 100)


if __name__ == "__main__":
    unittest.main()
