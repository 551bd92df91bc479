"""A hung PostgreSQL target must not delay a healthy Redis target, nor /metrics."""

import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import unittest

from vitals_harness import Daemon, free_port, sample, wait_for


class HungServer:
    """Accepts connections and never says a word: a wedged database."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self._stop = True
        self.sock.close()
        for c in self.held:
            c.close()


class RedisServer:
    def __init__(self):
        binary = shutil.which("redis-server")
        assert binary, "redis-server (Debian package redis-server) is required"
        self.dir = tempfile.TemporaryDirectory(prefix="vitals-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir.name, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def accepts():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False
        wait_for(accepts, what="redis-server to accept")

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.dir.cleanup()


class LoopIsolationTest(unittest.TestCase):
    def test_hung_postgres_delays_neither_redis_nor_metrics(self):
        hung = HungServer()
        self.addCleanup(hung.close)
        redis = RedisServer()
        self.addCleanup(redis.close)
        d = Daemon(textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            probes:
              - name: cache
                type: redis
                address: 127.0.0.1:{redis.port}
                interval: 200ms
                timeout: 150ms
              - name: wedged-db
                type: postgres
                conninfo: "host=127.0.0.1 port={hung.port} dbname=app user=monitor"
                interval: 300ms
                timeout: 250ms
            """))
        self.addCleanup(d.stop)

        worst_scrape = 0.0
        def enough_timeouts():
            nonlocal worst_scrape
            started = time.monotonic()
            m = d.metrics()
            worst_scrape = max(worst_scrape, time.monotonic() - started)
            return (sample(m, "vitals_probe_runs_total", probe="wedged-db", result="timeout") or 0) >= 5
        wait_for(enough_timeouts, limit=30, what="five Postgres timeouts")

        m = d.metrics()
        # Five Postgres runs of 250 ms each took at least 1.2 s of wall time;
        # Redis, due every 200 ms, must have kept going meanwhile.
        self.assertGreaterEqual(sample(m, "vitals_probe_runs_total", probe="cache", result="ok"), 4)
        self.assertEqual(sample(m, "vitals_probe_runs_total", probe="cache", result="timeout"), 0)
        self.assertEqual(sample(m, "vitals_probe_success", probe="cache"), 1)
        self.assertEqual(sample(m, "vitals_probe_success", probe="wedged-db"), 0)
        # A bound far above what a scrape takes (milliseconds), far below a probe timeout chain.
        self.assertLess(worst_scrape, 0.5)


if __name__ == "__main__":
    unittest.main()
