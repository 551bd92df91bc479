"""The rule language against real targets.

- The examples in docs/alerts.md, read from the file, validate and fire:
  an HTTP service's error ratio, a log file's error rate, a Redis that
  fills, a PostgreSQL pool near its limit, a port that comes and goes.
- One timed-out run of a probe neither resolves nor restarts a firing
  built-in alert, in the daemon and in a real Prometheus running the
  rules `vitalsd rules` prints; a rule written without the hold does
  resolve, so the outage really took the series away.
"""

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import unittest

from vitals_harness import VITALSD, Daemon, RedisServer, free_port, sample, wait_for
from test_dashboards import SOURCE_DIR, PostgresCluster, Prometheus


def documented_examples():
    """The YAML block under "### Examples" in docs/alerts.md, as it is written."""
    with open(os.path.join(SOURCE_DIR, "docs", "alerts.md")) as f:
        text = f.read()
    section = text[text.index("### Examples"):]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


def active_alerts(daemon):
    status, body = daemon.get("/api/v1/alerts")
    assert status == 200, body
    return json.loads(body)["alerts"]


def firing(daemon, name):
    return [a for a in active_alerts(daemon) if a["labels"]["alertname"] == name and a["state"] == "firing"]


class JsonCounters(http.server.BaseHTTPRequestHandler):
    body = json.dumps({"status": "ok", "stats": {"errors": 12, "requests": 100}}).encode()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def redis_command(port, *args):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return s.recv(4096)


class ExamplesTest(unittest.TestCase):
    def test_the_documented_examples_validate_and_fire_against_real_targets(self):
        stop = threading.Event()
        self.addCleanup(stop.set)

        # api: an HTTP service whose JSON says 12 errors in 100 requests.
        http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), JsonCounters)
        threading.Thread(target=http_server.serve_forever, daemon=True).start()
        self.addCleanup(http_server.server_close)
        self.addCleanup(http_server.shutdown)

        # api-log: a log gaining ERROR lines at about 40 a second.
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-examples-")
        self.addCleanup(work.cleanup)
        log_path = os.path.join(work.name, "api.log")
        open(log_path, "w").close()

        def write_log():
            n = 0
            while not stop.wait(0.025):
                try:
                    with open(log_path, "a") as f:
                        f.write(f"2026-12-07T10:00:00Z ERROR request {n} failed: ECONNREFUSED\n")
                except OSError:
                    return  # the test is over
                n += 1
        threading.Thread(target=write_log, daemon=True).start()

        # cache: a Redis with 256 MiB of maxmemory, written to steadily.
        redis = RedisServer(extra_args=("--maxmemory", "256mb"))
        self.addCleanup(redis.close)

        def fill_redis():
            n = 0
            while not stop.wait(0.05):
                try:
                    redis_command(redis.port, "SET", f"key:{n}", b"x" * 65536)
                except OSError:
                    return  # the test is over
                n += 1
        threading.Thread(target=fill_redis, daemon=True).start()

        # db: PostgreSQL with 12 connections, 9 of them usable, 8 held open
        # (the probe leaves its own session out of its counts).
        pg = PostgresCluster()
        self.addCleanup(pg.close)
        with open(os.path.join(pg.data, "postgresql.conf"), "a") as f:
            f.write("max_connections = 12\nsuperuser_reserved_connections = 3\n")
        pg.tool("pg_ctl", "-D", pg.data, "-l", os.path.join(pg.dir, "server.log"), "-w", "-t", "60", "restart")
        sessions = [subprocess.Popen(pg.psql_argv() + ["-c", "SELECT pg_sleep(600)"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL) for _ in range(8)]
        for p in sessions:
            self.addCleanup(p.wait)
            self.addCleanup(p.kill)

        # flappy: a port that is open for 0.4 s, closed for 0.4 s.
        flap_port = free_port()

        def flap():
            while not stop.is_set():
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", flap_port))
                s.listen(16)
                stop.wait(0.4)
                s.close()
                stop.wait(0.4)
        threading.Thread(target=flap, daemon=True).start()

        config = textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            defaults: {{interval: 500ms, timeout: 400ms}}
            probes:
              - name: api
                type: http
                url: http://127.0.0.1:{http_server.server_address[1]}/stats
                extract: {{errors: .stats.errors, requests: .stats.requests}}
              - name: api-log
                type: log
                path: {log_path}
                patterns: [{{name: error, regex: ERROR}}]
              - {{name: cache, type: redis, address: "127.0.0.1:{redis.port}"}}
              - {{name: db, type: postgres, conninfo: "host=127.0.0.1 port={pg.port} user=postgres dbname=postgres"}}
              - {{name: flappy, type: port, port: {flap_port}, interval: 200ms, timeout: 150ms}}
            """) + documented_examples().replace("alerts:\n", "alerts:\n  evaluation_interval: 500ms\n  defaults: false\n", 1)
        config_path = os.path.join(work.name, "vitals.yaml")
        with open(config_path, "w") as f:
            f.write(config)
        done = subprocess.run([VITALSD, "validate", "-c", config_path], capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

        d = Daemon(config)
        self.addCleanup(d.stop)
        expected = {"APIErrorRatioHigh": "api", "APILogErrors": "api-log", "RedisFillsWithinTheHour": "cache",
                    "PostgresPoolNearlyFull": "db", "ProbeFlapping": "flappy"}
        self.assertEqual(set(re.findall(r"- name: (\w+)", documented_examples())), set(expected))

        def all_firing():
            names = {a["labels"]["alertname"]: a for a in active_alerts(d) if a["state"] == "firing"}
            return names if set(expected) <= set(names) else None
        try:
            alerts = wait_for(all_firing, limit=90, what="every example to fire")
        except AssertionError:
            raise AssertionError("firing: " + ", ".join(sorted(a["labels"]["alertname"] for a in active_alerts(d) if a["state"] == "firing")) +
                                 "\n" + "\n".join(d.log()[-30:]))
        for name, probe in expected.items():
            self.assertEqual(alerts[name]["labels"].get("probe"), probe, name)
        self.assertAlmostEqual(alerts["APIErrorRatioHigh"]["value"], 0.12)
        self.assertAlmostEqual(alerts["PostgresPoolNearlyFull"]["value"], 8 / 9)
        self.assertIsNone(d.find_log(r"alert rule \w+: "), "no rule failed or lacked history")


class FailedRunTest(unittest.TestCase):
    def test_one_timed_out_run_keeps_a_firing_builtin_in_the_daemon_and_in_prometheus(self):
        redis = RedisServer(extra_args=("--maxmemory", "4mb"))
        self.addCleanup(redis.close)
        for n in range(40):  # about 2.6 MiB of 4: 65 %
            redis_command(redis.port, "SET", f"key:{n}", b"x" * 65536)

        config = textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            probes:
              - {{name: cache, type: redis, address: "127.0.0.1:{redis.port}", interval: 500ms, timeout: 300ms}}
            alerts:
              evaluation_interval: 500ms
              builtin:
                RedisMemoryHigh: {{threshold: 0.5, for: 1s}}
              rules:
                - name: RedisMemoryHighWithoutHold
                  when: vitals_redis_memory_utilization_ratio > 0.5
            """)
        d = Daemon(config)
        self.addCleanup(d.stop)

        rules = subprocess.run([VITALSD, "rules", "-c", d.config_path], capture_output=True, text=True, timeout=30)
        self.assertEqual(rules.returncode, 0, rules.stderr)
        self.assertIn("last_over_time(vitals_redis_memory_utilization_ratio[1m]) > 0.5", rules.stdout)
        rule_file = os.path.join(d.dir.name, "vitals.rules.yml")
        with open(rule_file, "w") as f:
            f.write(rules.stdout)
        prometheus = Prometheus(d.dir.name, [f"127.0.0.1:{d.port}"], [rule_file])
        self.addCleanup(prometheus.close)

        def prometheus_firing(name):
            return prometheus.query(f'ALERTS{{alertname="{name}",alertstate="firing"}}')

        wait_for(lambda: firing(d, "RedisMemoryHigh") and firing(d, "RedisMemoryHighWithoutHold"), limit=60,
                 what="both rules firing in the daemon")
        wait_for(lambda: prometheus_firing("RedisMemoryHigh") and prometheus_firing("RedisMemoryHighWithoutHold"),
                 limit=60, what="both rules firing in Prometheus")
        prometheus_fired_at = time.time()
        [before] = firing(d, "RedisMemoryHigh")
        prom_since = prometheus.query('ALERTS_FOR_STATE{alertname="RedisMemoryHigh"}')[0]["value"][1]

        # Redis stops answering for 1.5 s: the run in progress and the next
        # time out, and the redis series leave /metrics until it answers.
        timeouts = lambda: sample(d.metrics(), "vitals_probe_runs_total", probe="cache", result="timeout") or 0
        timed_out_before = timeouts()
        redis.proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: timeouts() > timed_out_before, limit=10, what="a run to time out")
            wait_for(lambda: sample(d.metrics(), "vitals_redis_memory_utilization_ratio", probe="cache") is None,
                     limit=10, what="the series to leave /metrics")
            # The control: without the hold both engines resolve while the series are gone.
            wait_for(lambda: not prometheus_firing("RedisMemoryHighWithoutHold"), limit=20,
                     what="Prometheus to resolve the rule without a hold")
            wait_for(lambda: d.find_log(r"alert RedisMemoryHighWithoutHold resolved"), limit=20,
                     what="the daemon to resolve the rule without a hold")
        finally:
            redis.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: sample(d.metrics(), "vitals_redis_memory_utilization_ratio", probe="cache") is not None,
                 limit=10, what="the series back")
        wait_for(lambda: firing(d, "RedisMemoryHighWithoutHold"), limit=20, what="the rule without hold to fire again")

        # The built-in never resolved, and is the same alert as before.
        self.assertIsNone(d.find_log(r"alert RedisMemoryHigh resolved"))
        [after] = firing(d, "RedisMemoryHigh")
        self.assertEqual(after["firing_since"], before["firing_since"])
        self.assertEqual(prometheus.query('ALERTS_FOR_STATE{alertname="RedisMemoryHigh"}')[0]["value"][1], prom_since)
        self.assertTrue(prometheus_firing("RedisMemoryHigh"))
        # In Prometheus too it never left "firing": ALERTS had no gap.
        end = time.time()
        series = prometheus.api("/api/v1/query_range", query='ALERTS{alertname="RedisMemoryHigh",alertstate="firing"}',
                                start=prometheus_fired_at, end=end, step=1)["result"]
        self.assertEqual(len(series), 1, series)
        points = [float(t) for t, _ in series[0]["values"]]
        gaps = [b - a for a, b in zip(points, points[1:]) if b - a > 1.5]
        self.assertEqual(gaps, [], "ALERTS for RedisMemoryHigh had a gap in Prometheus")


if __name__ == "__main__":
    unittest.main()
