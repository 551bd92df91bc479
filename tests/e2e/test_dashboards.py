"""The shipped Prometheus and Grafana configs against a real Prometheus
scraping a real vitalsd that watches real targets.

One set of throwaway targets on 127.0.0.1 (Redis with maxmemory, a
PostgreSQL cluster with a session idle in a transaction and a long query,
SQLite databases locked by a sqlite3 shell, an HTTP health endpoint,
WebSocket servers with and without TLS, a process whose memory grows, a
port held by the wrong process, a disk), one vitalsd with a probe of every
kind, and a Prometheus scraping it every second. Then:

- every metric family docs/metrics.md names reaches Prometheus;
- every query of every dashboard under config/grafana/ returns data, and
  filters on the dashboard's instance variable;
- Prometheus loads config/prometheus/vitals.rules.yml and fires from it
  what vitalsd fires;
- config/prometheus/ passes promtool, and its rule file is exactly what
  `vitalsd rules` prints for the defaults, so it cannot go stale.
"""

import contextlib
import glob
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import unittest
import urllib.error
import urllib.parse
import urllib.request

from vitals_harness import VITALSD, Daemon, RedisServer, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("VITALS_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures")
PROMETHEUS_DIR = os.path.join(SOURCE_DIR, "config", "prometheus")
GRAFANA_DIR = os.path.join(SOURCE_DIR, "config", "grafana")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-websockets lives with it

# Grafana's variables, as a query sent from the dashboard would have them.
GRAFANA_VARIABLES = {
    "$instance": ".*",
    "${instance}": ".*",
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "15s",
    "${__interval}": "15s",
    "$__range": "5m",
    "${__range}": "5m",
}

# Families docs/metrics.md names that this test cannot make appear, with
# the reason. Empty: every one is brought about below.
UNREACHABLE_FAMILIES = {}


def documented_families():
    """Metric names in the tables of docs/metrics.md; a histogram as its three series."""
    names = set()
    with open(os.path.join(SOURCE_DIR, "docs", "metrics.md")) as f:
        for line in f:
            m = re.match(r"\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^`]*\})?`\s*\|(.*)", line)
            if not m:
                continue
            name, rest = m.group(1), m.group(2)
            if re.match(r"\s*histogram\s*\|", rest):
                names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
            else:
                names.add(name)
    return names


def dashboard_files():
    return sorted(glob.glob(os.path.join(GRAFANA_DIR, "**", "*.json"), recursive=True))


def walk_panels(panels):
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))  # collapsed rows hold theirs


def dashboard_queries():
    """(file, panel title, refId, expr) of every Prometheus target of every dashboard."""
    for path in dashboard_files():
        with open(path) as f:
            dashboard = json.load(f)
        for panel in walk_panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield os.path.relpath(path, SOURCE_DIR), panel.get("title", "?"), target.get("refId"), target["expr"]


def as_sent(expr):
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    return expr


def http_json(url, data=None, timeout=10):
    try:
        with urllib.request.urlopen(url, data=data, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, {"error": body}
    except (OSError, ValueError):
        return None, None


def stop_process(proc, sig=signal.SIGTERM, timeout=15):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn(stack, argv, **kwargs):
    """A child process stopped (and its pipes closed) when the stack unwinds."""
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    kwargs.setdefault("stderr", subprocess.DEVNULL)
    proc = subprocess.Popen(argv, **kwargs)

    def close():
        stop_process(proc)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe:
                with contextlib.suppress(OSError):
                    pipe.close()
    stack.callback(close)
    return proc


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class HealthHandler(http.server.BaseHTTPRequestHandler):
    """/healthz answers a health payload; anything else is a 404."""

    def do_GET(self):
        if self.path == "/healthz":
            status, body = 200, {"status": "ok", "queue": {"depth": 4}, "workers": 3}
        else:
            status, body = 404, {"error": "no such endpoint"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class AlertReceiver(http.server.BaseHTTPRequestHandler):
    """Stands in for Alertmanager: accepts every batch the daemon posts."""

    received = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        AlertReceiver.received.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


# A WebSocket server with TLS for the probes: /pong answers {"type":"ping"}
# with a pong, /bye closes every connection with code 4001 after its first
# message.
TLS_WS_SERVER = textwrap.dedent("""\
    import asyncio, json, ssl, sys
    import websockets

    async def handle(ws, path=None):
        path = path or getattr(ws, "path", None) or ws.request.path  # the API differs across versions
        if path == "/bye":
            await ws.recv()
            await ws.close(code=4001, reason="going away for the test")
            return
        try:
            async for message in ws:
                if isinstance(message, str) and json.loads(message).get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
        except websockets.ConnectionClosed:
            pass

    async def main(cert, key):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        async with websockets.serve(handle, "127.0.0.1", 0, ssl=context) as server:
            print("PORT", server.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """)

# Memory that keeps growing (32 KiB of written pages every 50 ms, about
# 650 KB/s, up to 512 MiB), so the RSS growth and time-to-limit series exist.
GROWING_PROCESS = textwrap.dedent("""\
    import time
    held = []
    while True:
        if len(held) < 16384:
            held.append(b"\\x01" * 32768)
        time.sleep(0.05)
    """)


class PostgresCluster:
    """initdb + pg_ctl in a temp dir; as root, the server tools run as postgres."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        assert bins, "PostgreSQL server binaries (Debian package postgresql) are required"
        self.bin = os.path.dirname(bins[-1])
        self.as_root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="vitals-e2e-pg-")
        if self.as_root:
            shutil.chown(self.dir, user="postgres", group="postgres")
        self.port = free_port()
        self.running = False
        self.tool("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n")
        self.tool("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60", "start")
        self.running = True

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    def tool(self, name, *args, check=True):
        argv = [os.path.join(self.bin, name), *args]
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"{name} failed: {done.stdout}{done.stderr}")
        return done

    def psql_argv(self):
        return [os.path.join(self.bin, "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                "-d", "postgres", "-v", "ON_ERROR_STOP=1"]

    def close(self):
        if self.running:
            self.tool("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)


class Prometheus:
    def __init__(self, work_dir, targets, rule_files):
        binary = shutil.which("prometheus")
        assert binary, "prometheus (Debian package prometheus) is required"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = os.path.join(work_dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(textwrap.dedent(f"""\
                global:
                  scrape_interval: 1s
                  scrape_timeout: 900ms
                  evaluation_interval: 1s
                rule_files: {json.dumps(rule_files)}
                scrape_configs:
                  - job_name: vitals
                    static_configs:
                      - targets: {json.dumps(targets)}
                """))
        self.log_path = os.path.join(work_dir, "prometheus.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={os.path.join(work_dir, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: self.proc.poll() is not None or self.ready(), limit=60, what="prometheus to be ready")
            assert self.proc.poll() is None, "prometheus exited:\n" + self.log_text()
        except BaseException:
            self.close()
            raise

    def ready(self):
        try:
            with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def api(self, path, **params):
        status, body = http_json(self.base + path + "?" + urllib.parse.urlencode(params))
        assert status == 200 and body and body.get("status") == "success", f"{path} {params}: {status} {body}"
        return body["data"]

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)["result"]

    def names(self):
        return set(self.api("/api/v1/label/__name__/values"))

    def close(self):
        stop_process(self.proc)
        self.log.close()


class DemoStack:
    """Every target, the daemon and Prometheus; close() stops them all."""

    def __init__(self):
        self.stack = contextlib.ExitStack()
        try:
            self._start()
        except BaseException:
            self.stack.close()
            raise

    def close(self):
        self.stack.close()

    def _start(self):
        s = self.stack
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-dash-")
        s.callback(work.cleanup)
        self.work = work.name
        os.chmod(self.work, 0o755)

        # Redis with a maxmemory, and one hit and one miss for the hit ratio.
        redis = RedisServer(extra_args=("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"))
        s.callback(redis.close)
        with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as c:
            c.sendall(b"SET greeting hello\r\nGET greeting\r\nGET missing\r\n")
            reply = b""
            while reply.count(b"\r\n") < 4:  # +OK, $5 hello, $-1
                reply += c.recv(1024)

        # PostgreSQL: one session idle in a transaction, one running a long
        # query. psql reads both from pipes this test holds open.
        pg = PostgresCluster()
        s.callback(pg.close)
        self.idle_tx = spawn(s, pg.psql_argv(), stdin=subprocess.PIPE, text=True)
        self.idle_tx.stdin.write("BEGIN;\nSELECT count(*) FROM pg_class;\n")
        self.idle_tx.stdin.flush()
        self.long_query = spawn(s, pg.psql_argv(), stdin=subprocess.PIPE, text=True)
        self.long_query.stdin.write("SELECT pg_sleep(3600);\n")
        self.long_query.stdin.flush()

        # SQLite: a database a sqlite3 shell holds in BEGIN EXCLUSIVE, and a
        # WAL database another shell keeps open (its -shm exists, its WAL has
        # frames), checked with quick_check.
        sqlite3 = shutil.which("sqlite3")
        assert sqlite3, "sqlite3 (Debian package sqlite3) is required"
        self.locked_db = os.path.join(self.work, "orders.db")
        self.wal_db = os.path.join(self.work, "sessions.db")
        # A log with a matching line already in it, read from its beginning,
        # so the log probe's families (a last-match time too) are exported.
        self.app_log = os.path.join(self.work, "app.log")
        with open(self.app_log, "w") as f:
            f.write("ERROR SQLITE_BUSY: database is locked\nGET /health 200\n")
        subprocess.run([sqlite3, self.locked_db, "CREATE TABLE orders(id INTEGER PRIMARY KEY, total REAL);"
                        "INSERT INTO orders(total) VALUES (9.5), (12.25);"], check=True, timeout=30)
        self.lock_holder = spawn(s, [sqlite3, self.locked_db], stdin=subprocess.PIPE, text=True)
        self.lock_holder.stdin.write("BEGIN EXCLUSIVE;\nUPDATE orders SET total = total + 1;\n")
        self.lock_holder.stdin.flush()
        self.wal_writer = spawn(s, [sqlite3, self.wal_db], stdin=subprocess.PIPE, text=True)
        self.wal_writer.stdin.write("PRAGMA journal_mode=WAL;\nCREATE TABLE sessions(id TEXT PRIMARY KEY, seen INT);\n"
                                    "INSERT INTO sessions VALUES ('a', 1), ('b', 2);\n")
        self.wal_writer.stdin.flush()
        wait_for(lambda: os.path.exists(self.wal_db + "-shm") and os.path.exists(self.wal_db + "-wal"), limit=30,
                 what="the WAL database's -shm and -wal")

        # HTTP: a health payload, and a 404 for a readiness path it lacks.
        web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HealthHandler)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        s.callback(web.server_close)
        s.callback(web.shutdown)
        self.web_port = web.server_address[1]

        # Stands in for Alertmanager, so notifications get counted.
        receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AlertReceiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        s.callback(receiver.server_close)
        s.callback(receiver.shutdown)
        self.receiver_port = receiver.server_address[1]

        # WebSocket: the pong fixture, and a TLS server with a self-signed
        # certificate for wss:// (TLS timing, and close codes from /bye).
        assert os.path.exists(SYSTEM_PYTHON), "the system Python with python3-websockets is required"
        ws = spawn(s, [SYSTEM_PYTHON, os.path.join(FIXTURES, "ws_pong_server.py"), "0"],
                   stdout=subprocess.PIPE, text=True)
        self.ws_port = int(ws.stdout.readline().split()[1])
        cert, key = os.path.join(self.work, "ws.crt"), os.path.join(self.work, "ws.key")
        assert shutil.which("openssl"), "openssl is required for the wss:// server's certificate"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-keyout", key, "-out", cert], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wss = spawn(s, [SYSTEM_PYTHON, "-c", TLS_WS_SERVER, cert, key], stdout=subprocess.PIPE, text=True)
        self.wss_port = int(wss.stdout.readline().split()[1])

        # A process whose memory grows.
        self.grower = spawn(s, [SYSTEM_PYTHON, "-c", GROWING_PROCESS, "vitals-e2e-grower"])

        # Ports: one expected free is taken by this test (an `in_use`
        # conflict), and the HTTP server's port is expected to belong to
        # another program (a `conflict`, which fires PortConflict at once).
        # The taken port accepts and hangs up, so its queue never fills.
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(16)
        taken_port = taken.getsockname()[1]

        def hang_up():
            while True:
                try:
                    conn, _ = taken.accept()
                except OSError:
                    return
                conn.close()
        threading.Thread(target=hang_up, daemon=True).start()

        def close_taken():
            with contextlib.suppress(OSError):
                taken.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            taken.close()
        s.callback(close_taken)

        self.daemon = Daemon(self.vitals_config(pg, redis, taken_port))
        s.callback(self.daemon.stop)
        daemon_port = int(self.daemon.base.rsplit(":", 1)[1])

        self.prometheus = Prometheus(self.work, [f"127.0.0.1:{daemon_port}"],
                                     [os.path.join(PROMETHEUS_DIR, "vitals.rules.yml")])
        s.callback(self.prometheus.close)

    def vitals_config(self, pg, redis, taken_port):
        return textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            log: {{level: info, format: text}}
            state: {{path: {self.work}/state.db}}
            defaults: {{interval: 500ms, timeout: 400ms}}
            probes:
              - {{name: web-port, type: port, port: {self.web_port}, expect_process: node}}
              - {{name: spare-ports, type: port, ports: "{taken_port}", expect: closed}}
              - name: web-health
                type: http
                url: http://127.0.0.1:{self.web_port}/healthz
                expect_json: {{status: ok}}
                extract: {{queue_depth: .queue.depth, workers: .workers}}
              - {{name: web-ready, type: http, url: "http://127.0.0.1:{self.web_port}/ready"}}
              - name: ws
                type: websocket
                url: ws://127.0.0.1:{self.ws_port}/
                send: '{{"type":"ping","id":"{{{{uuid}}}}"}}'
                expect_json: {{type: pong}}
              - {{name: ws-kept, type: websocket, url: "ws://127.0.0.1:{self.ws_port}/", mode: control,
                 persistent: true}}
              - name: wss
                type: websocket
                url: wss://127.0.0.1:{self.wss_port}/pong
                tls: {{insecure_skip_verify: true}}
                send: '{{"type":"ping"}}'
                expect_json: {{type: pong}}
              - name: wss-bye
                type: websocket
                url: wss://127.0.0.1:{self.wss_port}/bye
                tls: {{insecure_skip_verify: true}}
                send: '{{"type":"ping"}}'
                expect_json: {{type: pong}}
              - {{name: cache, type: redis, address: "127.0.0.1:{redis.port}"}}
              - name: db
                type: postgres
                conninfo: "host=127.0.0.1 port={pg.port} dbname=postgres user=postgres"
              - {{name: orders-db, type: sqlite, path: {self.locked_db}}}
              - {{name: sessions-db, type: sqlite, path: {self.wal_db}, integrity_check: quick,
                 integrity_interval: 1m}}
              - {{name: grower, type: process, match: {{cmdline: vitals-e2e-grower}}, growth_window: 5s,
                 rss_limit: 8GiB}}
              - {{name: vitalsd, type: process, match: {{name: vitalsd}}}}
              - {{name: work-disk, type: disk, path: {self.work}}}
              - {{name: app-log, type: log, path: {self.app_log}, from: beginning,
                 patterns: [{{name: error, regex: ERROR}}]}}
            # PortConflict fires at once (two ports are held by the wrong
            # process); this rule stays pending, so both states show.
            alerts:
              evaluation_interval: 250ms
              rules:
                - name: SQLiteHeldLocked
                  when: vitals_sqlite_locked == 1
                  for: 1h
                  severity: low
                  summary: "{{{{ $labels.probe }}}} is locked"
            notify:
              alertmanager: {{url: "http://127.0.0.1:{self.receiver_port}"}}
              resend_interval: 1s
            """)


class DashboardsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = DemoStack()
        cls.addClassCleanup(cls.env.close)
        cls.prometheus = cls.env.prometheus

    def test_every_documented_family_reaches_prometheus(self):
        expected = documented_families()
        self.assertGreater(len(expected), 60, "docs/metrics.md should name the families in its tables")
        self.assertFalse(set(UNREACHABLE_FAMILIES) - expected, "unreachable families must be documented ones")
        wanted = expected - set(UNREACHABLE_FAMILIES)
        try:
            wait_for(lambda: not (wanted - self.prometheus.names()), limit=90, what="every documented family")
        except AssertionError:
            missing = sorted(wanted - self.prometheus.names())
            self.fail(f"families in docs/metrics.md that Prometheus never saw: {missing}\n"
                      "daemon log tail:\n" + "\n".join(self.env.daemon.log()[-20:]))

    def test_promtool_lints_the_exposition_with_every_probe_kind_configured(self):
        kinds = {"port", "http", "websocket", "redis", "postgres", "sqlite", "process", "disk", "log"}

        def every_kind_ran():
            text = self.env.daemon.metrics()
            seen = set(re.findall(r'^vitals_probe_runs_total\{kind="([a-z]+)"', text, re.M))
            return text if kinds <= seen else None
        text = wait_for(every_kind_ran, limit=60, what="a run of every probe kind")
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool comes with the prometheus package")
        # Lint problems (a gauge named like a histogram's _count, a counter
        # without _total) make promtool exit non-zero, as they would in CI
        # pipelines that lint exporters.
        done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def test_every_dashboard_query_returns_data(self):
        queries = list(dashboard_queries())
        self.assertTrue(queries, "config/grafana/ should hold at least one dashboard with queries")
        pending = {(f, title, ref): as_sent(expr) for f, title, ref, expr in queries}
        errors = {}

        def all_answered():
            for key, expr in list(pending.items()):
                status, body = http_json(self.prometheus.base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
                if status != 200 or not body or body.get("status") != "success":
                    errors[key] = body
                    continue
                errors.pop(key, None)
                if body["data"]["result"]:
                    del pending[key]
            return not pending
        try:
            wait_for(all_answered, limit=90, what="every dashboard query to return data")
        except AssertionError:
            self.fail("dashboard queries without data:\n" + "\n".join(
                f"  {f} / {title} / {ref}: {expr}" + (f"\n    error: {errors[(f, title, ref)]}" if (f, title, ref) in errors else "")
                for (f, title, ref), expr in sorted(pending.items())))

    def test_prometheus_evaluates_the_shipped_rules_like_vitalsd(self):
        def loaded():
            groups = self.prometheus.api("/api/v1/rules")["groups"]
            return {r["name"] for g in groups for r in g["rules"]}
        names = wait_for(loaded, limit=60, what="Prometheus to load config/prometheus/vitals.rules.yml")
        self.assertIn("ProbeDown", names)
        self.assertIn("PortConflict", names)
        # Two ports held by the wrong process: PortConflict (no `for`) fires
        # in Prometheus as it does in vitalsd.
        wait_for(lambda: len(self.prometheus.query('ALERTS{alertname="PortConflict", alertstate="firing"}')) == 2,
                 limit=90, what="PortConflict firing in Prometheus for both ports")
        # The runbook link names the daemon Prometheus scraped, and that page opens.
        alerts = [a for a in self.prometheus.api("/api/v1/alerts")["alerts"]
                  if a["labels"]["alertname"] == "PortConflict"]
        self.assertTrue(alerts)
        for alert in alerts:
            self.assertEqual(alert["annotations"]["runbook_url"],
                             f"http://{alert['labels']['instance']}/runbooks/PortConflict")
        with urllib.request.urlopen(alerts[0]["annotations"]["runbook_url"], timeout=10) as page:
            self.assertEqual(page.status, 200)
            self.assertIn("PortConflict", page.read().decode())

    def test_every_dashboard_uses_the_datasource_and_instance_variables(self):
        files = dashboard_files()
        self.assertTrue(files)
        for path in files:
            with open(path) as f:
                dashboard = json.load(f)
            name = os.path.relpath(path, SOURCE_DIR)
            self.assertGreaterEqual(dashboard.get("schemaVersion", 0), 38, name)
            variables = {v["name"]: v for v in dashboard["templating"]["list"]}
            self.assertEqual(variables["datasource"]["type"], "datasource", name)
            self.assertEqual(variables["datasource"]["query"], "prometheus", name)
            instance = variables["instance"]
            query = instance["query"]["query"] if isinstance(instance["query"], dict) else instance["query"]
            self.assertEqual(query, "label_values(vitals_build_info, instance)", name)
            self.assertTrue(instance["multi"] and instance["includeAll"], name)
            ids = [p["id"] for p in walk_panels(dashboard["panels"])]
            self.assertEqual(len(ids), len(set(ids)), f"{name}: panel ids must be unique")
            for panel in walk_panels(dashboard["panels"]):
                if panel.get("type") == "row":
                    continue
                self.assertTrue(panel.get("targets"), f"{name} / {panel.get('title')}: no queries")
                for ds in [panel.get("datasource")] + [t.get("datasource") for t in panel["targets"]]:
                    if ds is not None:
                        self.assertEqual(ds, {"type": "prometheus", "uid": "${datasource}"},
                                         f"{name} / {panel.get('title')}")

    def test_every_dashboard_query_filters_on_instance(self):
        for f, title, ref, expr in dashboard_queries():
            selectors = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", expr)
            self.assertTrue(selectors, f"{f} / {title} / {ref}: no selector in {expr}")
            for name, matchers in selectors:
                self.assertIn('instance=~"$instance"', matchers, f"{f} / {title} / {ref}: {name}{{{matchers}}}")
            bare = re.findall(r"\b(vitals_[a-zA-Z0-9_]+|process_[a-z_]+)\b(?!\s*\{)", expr)
            self.assertFalse(bare, f"{f} / {title} / {ref}: selectors without the instance filter: {bare}")


class ShippedPrometheusConfigTest(unittest.TestCase):
    def test_promtool_accepts_the_config_and_its_rules(self):
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool comes with the prometheus package")
        config = os.path.join(PROMETHEUS_DIR, "prometheus.yml")
        done = subprocess.run([promtool, "check", "config", config], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("SUCCESS: 1 rule files found", done.stdout + done.stderr)
        done = subprocess.run([promtool, "check", "rules", os.path.join(PROMETHEUS_DIR, "vitals.rules.yml")],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def test_the_rules_file_is_what_vitalsd_prints_for_the_defaults(self):
        self.maxDiff = None
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-rules-")
        self.addCleanup(work.cleanup)
        with open(os.path.join(work.name, "vitals.yaml"), "w") as f:
            f.write("alerts: {defaults: true}\n")
        # The same command as config/prometheus/README.md gives.
        done = subprocess.run([os.path.abspath(VITALSD) if os.sep in VITALSD else VITALSD, "rules", "-c", "vitals.yaml"],
                              capture_output=True, text=True, timeout=30, cwd=work.name)
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(os.path.join(PROMETHEUS_DIR, "vitals.rules.yml")) as f:
            shipped = f.read()
        self.assertEqual(shipped, done.stdout,
                         "config/prometheus/vitals.rules.yml is stale: regenerate it as config/prometheus/README.md says")


if __name__ == "__main__":
    unittest.main()
