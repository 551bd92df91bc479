"""Passwords from ${env:} and ${file:} never reach logs, /metrics, the API or evidence."""

import json
import os
import signal
import subprocess
import tempfile
import textwrap
import unittest

from vitals_harness import VITALSD, Daemon, HungServer, RedisServer, sample, wait_for

RIGHT = "correct-horse-battery-7781"
WRONG = "wrong-staple-0042"
PG_PASSWORD = "pg-secret-5521"


class SecretsTest(unittest.TestCase):
    def test_passwords_appear_nowhere_a_user_can_read(self):
        redis = RedisServer(extra_args=["--requirepass", RIGHT])
        self.addCleanup(redis.close)
        hung = HungServer()
        self.addCleanup(hung.close)
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write(WRONG + "\n")
        self.addCleanup(os.unlink, f.name)

        d = Daemon(textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            log: {{level: debug}}
            probes:
              - name: cache-ok
                type: redis
                address: 127.0.0.1:{redis.port}
                password: ${{env:VITALS_TEST_REDIS_PASSWORD}}
                interval: 300ms
                timeout: 200ms
              - name: cache-wrong
                type: redis
                address: 127.0.0.1:{redis.port}
                password: ${{file:{f.name}}}
                interval: 300ms
                timeout: 200ms
              - name: db
                type: postgres
                conninfo: "host=127.0.0.1 port={hung.port} dbname=app user=monitor"
                password: ${{env:VITALS_TEST_PG_PASSWORD}}
                interval: 300ms
                timeout: 200ms
            """), extra_env={"VITALS_TEST_REDIS_PASSWORD": RIGHT, "VITALS_TEST_PG_PASSWORD": PG_PASSWORD})
        self.addCleanup(d.stop)

        def all_ran():
            m = d.metrics()
            return all(sample(m, "vitals_probe_success", probe=p) is not None for p in ("cache-ok", "cache-wrong", "db"))
        wait_for(all_ran, what="first runs")
        m = d.metrics()
        self.assertEqual(sample(m, "vitals_probe_success", probe="cache-ok"), 1)
        self.assertEqual(sample(m, "vitals_probe_success", probe="cache-wrong"), 0)
        status, api = d.get("/api/v1/probes")
        wrong = [p for p in json.loads(api)["probes"] if p["name"] == "cache-wrong"][0]
        self.assertEqual(wrong["last"]["reason"], "auth")
        _, page = d.get("/")

        # A reload with a broken value next to a secret must not echo it either.
        d.write_config(d_config_with_bad_secret(redis.port))
        d.signal(signal.SIGHUP)
        wait_for(lambda: sample(d.metrics(), "vitals_config_last_reload_successful") == 0, what="rejected reload")

        for where, text in [("log", "\n".join(d.log())), ("/metrics", d.metrics()), ("/api/v1/probes", api),
                            ("status page", page)]:
            for secret in (RIGHT, WRONG, PG_PASSWORD):
                self.assertNotIn(secret, text, f"{secret} leaked into {where}")

    def test_validate_never_echoes_a_secret_value(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("probes:\n  - name: a\n    type: port\n    port: ${env:VITALS_TEST_PORT}\n")
        self.addCleanup(os.unlink, f.name)
        r = subprocess.run([VITALSD, "validate", "-c", f.name], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, VITALS_TEST_PORT="hunter2-not-a-port"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{f.name}:4:11: probes[0].port", r.stderr)
        self.assertNotIn("hunter2", r.stderr + r.stdout)


def d_config_with_bad_secret(port):
    return textwrap.dedent(f"""\
        server: {{listen: 127.0.0.1:0}}
        probes:
          - name: cache-ok
            type: redis
            address: 127.0.0.1:{port}
            password: ${{env:VITALS_TEST_REDIS_PASSWORD}}
            db: ${{env:VITALS_TEST_REDIS_PASSWORD}}
        """)


if __name__ == "__main__":
    unittest.main()
