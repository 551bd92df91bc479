"""A hung PostgreSQL target must not delay a healthy Redis target, nor /metrics."""

import textwrap
import time
import unittest

from vitals_harness import Daemon, HungServer, RedisServer, sample, wait_for


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
