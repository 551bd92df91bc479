"""Secrets from ${env:} and ${file:} never reach logs, /metrics, the API, evidence, the state file or a receiver."""

import html
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import threading
import unittest
import urllib.parse

from test_dashboards import PostgresCluster
from vitals_harness import VITALSD, Daemon, HungServer, RedisServer, sample, wait_for

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")

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


# ---- The canary: one secret in every string a config can hold ------------------------------------------------------

CANARY = "cnry7Hq2x9vT"  # plain: fits host labels, paths, process names and subprotocols
SPECIAL = 'sp"Ec/i&l <7Kq>'  # what escaping changes: quote, slash, ampersand, space, angle brackets
DB_PASSWORD = "dbpw-0xC0FFEE"  # on a watched process's command line only, never in the config
LOCK_KEY = "lockkey-5150"  # the same, on an SQLite lock holder's command line


def forms(secret):
    """The ways an output could spell `secret`: raw, percent-encoded, JSON-, label- and HTML-escaped."""
    quoted = urllib.parse.quote(secret, safe="")
    as_json = json.dumps(secret)[1:-1]
    out = {secret, quoted, quoted.lower(), urllib.parse.quote_plus(secret),
           urllib.parse.quote(secret, safe="/:?&=@!$'()*+,;"),
           as_json, json.dumps(secret, ensure_ascii=False)[1:-1], as_json.replace("/", "\\/"),
           html.escape(secret), html.escape(secret).replace("&#x27;", "&#39;"),
           secret.replace("\\", "\\\\").replace('"', '\\"')}
    return {f for f in out if f}


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """/ok/*: 200 with a JSON echo; /hook/* (a webhook) and /am/* (an Alertmanager that refuses): record the
    request (path, authorization, body); anything else: 500 with the JSON echo and the signature header repeated
    in response headers."""

    def echo(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        return body, json.dumps({"path": self.path, "headers": dict(self.headers.items()), "body": body})

    def answer(self, status, body, headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.do_POST()

    def do_POST(self):
        body, echoed = self.echo()
        if self.path.startswith("/hook/") or self.path.startswith("/am/"):
            self.server.received.append((self.path, self.headers.get("Authorization"), body))
            self.answer(200 if self.path.startswith("/hook/") else 400, "{}")
        elif self.path.startswith("/ok/"):
            self.answer(200, echoed)
        else:
            sig = self.headers.get("X-Signature", "")
            self.answer(500, echoed, [("WWW-Authenticate", f'Bearer realm="{sig}"'), ("Location", self.path)])

    def log_message(self, *args):
        pass


def canary_config(echo, ws, redis, pg, work):
    return textwrap.dedent(f"""\
        server: {{listen: 127.0.0.1:0}}
        log: {{level: trace, format: text}}
        state: {{path: "{work}/${{env:VITALS_CANARY}}/state.db"}}
        defaults: {{interval: 300ms, timeout: 250ms}}
        probes:
          - name: web
            type: http
            url: "http://127.0.0.1:{echo}/echo/${{env:VITALS_CANARY}}?access_token=${{env:VITALS_CANARY}}"
            method: POST
            headers:
              X-Signature: "${{env:VITALS_CANARY_SPECIAL}}"
              Authorization: "Bearer ${{env:VITALS_CANARY}}"
              User-Agent: "probe ${{env:VITALS_CANARY}}"
            body: "${{env:VITALS_CANARY_SPECIAL}}"
            expect_body_regex: "never-${{env:VITALS_CANARY}}"
          - name: web-json
            type: http
            url: "http://127.0.0.1:{echo}/ok/${{env:VITALS_CANARY}}"
            headers: {{X-Signature: "${{env:VITALS_CANARY_SPECIAL}}"}}
            expect_json: {{token: "${{env:VITALS_CANARY}}"}}
            extract: {{depth: ".${{env:VITALS_CANARY}}"}}
          - name: ws
            type: websocket
            url: "ws://127.0.0.1:{ws}/ws/${{env:VITALS_CANARY}}?token=${{env:VITALS_CANARY}}"
            headers: {{X-Signature: "${{env:VITALS_CANARY_SPECIAL}}", Origin: "http://${{env:VITALS_CANARY}}.example"}}
            subprotocols: ["${{env:VITALS_CANARY}}"]
            send: "${{env:VITALS_CANARY_SPECIAL}}"
            expect: "never-${{env:VITALS_CANARY}}"
            max_messages: 3
          - name: port
            type: port
            port: {echo}
            expect_process: "${{env:VITALS_CANARY}}"
          - name: cache
            type: redis
            address: "127.0.0.1:{redis}"
            username: "${{env:VITALS_CANARY}}"
            password: "${{env:VITALS_CANARY_SPECIAL}}"
          - name: db
            type: postgres
            conninfo: >-
              host=127.0.0.1 port={pg} dbname=${{env:VITALS_CANARY}} user=${{env:VITALS_CANARY}}
              application_name=${{env:VITALS_CANARY}}
            password: "${{env:VITALS_CANARY_SPECIAL}}"
          - name: proc
            type: process
            match: {{cmdline: "holder-${{env:VITALS_CANARY}}"}}
            min_count: 2
          - name: proc-pidfile
            type: process
            match: {{pidfile: "{work}/${{env:VITALS_CANARY}}/none.pid"}}
          - name: lite
            type: sqlite
            path: "{work}/${{env:VITALS_CANARY}}/app.db"
          - name: disk
            type: disk
            path: "{work}/${{env:VITALS_CANARY}}/missing"
        alerts:
          evaluation_interval: 200ms
          runbook_base_url: "https://runbooks.example/${{env:VITALS_CANARY}}/"
          builtin:
            ProbeDown: {{for: 0s}}
          rules:
            - name: CanaryDown
              when: 'vitals_probe_success{{probe="web"}} == 0'
              labels: {{route: "pager-${{env:VITALS_CANARY}}", team: "${{env:VITALS_CANARY_SPECIAL}}"}}
              summary: "{{{{ $labels.probe }}}} down, call ${{env:VITALS_CANARY}}"
              description: "${{env:VITALS_CANARY_SPECIAL}}"
              runbook_url: "https://wiki.example/${{env:VITALS_CANARY}}?token=${{env:VITALS_CANARY}}"
        notify:
          webhook:
            url: "http://127.0.0.1:{echo}/hook/${{env:VITALS_CANARY}}?token=${{env:VITALS_CANARY}}"
            bearer_token: "${{env:VITALS_CANARY}}"
          alertmanager: {{urls: ["http://127.0.0.1:{echo}/am/${{env:VITALS_CANARY}}"]}}
          resend_interval: 1s
        """)


INVALID_SECRET_CONFIG = textwrap.dedent("""\
    server: {listen: "127.0.0.1:${env:VITALS_CANARY}"}
    probes:
      - {name: cache, type: redis, address: "127.0.0.1:${env:VITALS_CANARY}"}
      - {name: web, type: http, url: "http://${env:VITALS_CANARY}:port-${env:VITALS_CANARY}/"}
    notify:
      alertmanager: {urls: ["ftp://am.example/${env:VITALS_CANARY}"]}
    alerts:
      rules:
        - {name: Odd, when: "vitals_probe_${env:VITALS_CANARY} == 0"}
    """)


class CanaryTest(unittest.TestCase):
    """A canary secret in every string-valued field of every probe kind and notifier, against real targets that
    echo it back, searched for in every output a user or a receiver can read."""

    def start_targets(self):
        self.echo = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
        self.echo.received = []
        threading.Thread(target=self.echo.serve_forever, daemon=True).start()
        self.addCleanup(self.echo.server_close)
        self.addCleanup(self.echo.shutdown)
        ws = subprocess.Popen(["/usr/bin/python3", os.path.join(FIXTURES, "ws_echo_server.py"), "0"],
                              stdout=subprocess.PIPE, text=True)
        self.addCleanup(ws.stdout.close)
        self.addCleanup(ws.wait)
        self.addCleanup(ws.kill)
        self.ws_port = int(ws.stdout.readline().split()[1])
        self.redis = RedisServer(extra_args=["--requirepass", "another-password"])
        self.addCleanup(self.redis.close)
        self.pg = PostgresCluster()
        self.addCleanup(self.pg.close)
        # A watched process whose command line holds a password the config never saw.
        holder = subprocess.Popen(["/bin/sh", "-c", "read line", f"holder-{CANARY}", f"--db-password={DB_PASSWORD}"],
                                  stdin=subprocess.PIPE)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdin.close)
        secret_dir = os.path.join(self.work, CANARY)
        os.mkdir(secret_dir)
        db = os.path.join(secret_dir, "app.db")
        subprocess.run(["sqlite3", db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);"], check=True)
        # An SQLite lock holder whose command line holds a key the config never saw.
        lock = subprocess.Popen(["sqlite3", "-batch", "-cmd", f".print api_key={LOCK_KEY}", db], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(lock.stdout.close)
        self.addCleanup(lock.wait)
        self.addCleanup(lock.stdin.close)
        lock.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'locked';\n")
        lock.stdin.flush()
        wait_for(lambda: lock.stdout.readline().strip() == "locked", what="sqlite3 holding the lock")

    def run_cli(self, *args, config=None):
        r = subprocess.run([VITALSD, *args, "-c", config or self.config_path], capture_output=True, text=True,
                           timeout=120, env=self.env)
        return r.stdout + r.stderr

    def test_no_output_shows_a_canary_secret(self):
        self.work = tempfile.mkdtemp(prefix="vitals-e2e-canary-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.start_targets()
        self.env = dict(os.environ, VITALS_CANARY=CANARY, VITALS_CANARY_SPECIAL=SPECIAL)
        config = canary_config(self.echo.server_address[1], self.ws_port, self.redis.port, self.pg.port, self.work)
        d = Daemon(config, extra_env=self.env)
        self.addCleanup(d.stop)
        self.config_path = d.config_path
        outputs = {}

        # Every probe ran and failed the way a target that echoes would make it; alerts fired and went out.
        names = ["web", "web-json", "ws", "port", "cache", "db", "proc", "proc-pidfile", "lite", "disk"]
        wait_for(lambda: all(sample(d.metrics(), "vitals_probe_success", probe=n) is not None for n in names),
                 limit=60, what="every probe's first run")
        wait_for(lambda: any(p.startswith("/hook/") for p, _, _ in self.echo.received), limit=60,
                 what="a webhook payload")
        wait_for(lambda: d.find_log("refused a batch"), limit=60, what="the refusing receiver logged")
        def incidents():
            status, body = d.get("/api/v1/incidents")
            return status == 200 and json.loads(body).get("incidents")
        wait_for(incidents, limit=60, what="an incident")
        status, api = d.get("/api/v1/probes")
        self.assertEqual(status, 200)
        by_name = {p["name"]: p for p in json.loads(api)["probes"]}
        self.assertIn("<redacted>", by_name["web"]["target"])
        self.assertIn("--db-password=<redacted>", api)  # the process's own password, by its shape
        paths = ["/metrics", "/api/v1/probes", "/api/v1/alerts", "/api/v1/incidents", "/api/v1/incidents?since=1h", "/"]
        # Each probe's page and history carry its causes, run by run.
        paths += [f"/probes/{n}" for n in names] + [f"/api/v1/probes/{n}/history?range=1h" for n in names]
        for path in paths:
            status, outputs[path] = d.get(path)
            self.assertEqual(status, 200, path)
        self.read_state(outputs, "while running")

        # Trace logs in the other format too: a reload switches it.
        d.write_config(config.replace("format: text", "format: json"))
        d.signal(signal.SIGHUP)
        wait_for(lambda: d.find_log(r'"msg":"config: loaded'), limit=60, what="the reload in json format")
        wait_for(lambda: d.find_log(r'^\{.*refused a batch'), limit=60, what="a receiver's refusal in json format")

        outputs["vitalsd check"] = self.run_cli("check")
        outputs["vitalsd validate"] = self.run_cli("validate")
        outputs["vitalsd rules"] = self.run_cli("rules")
        outputs["vitalsd incidents --json"] = self.run_cli("incidents", "--json")
        outputs["vitalsd incidents"] = self.run_cli("incidents")
        bad = os.path.join(self.work, "invalid.yaml")
        with open(bad, "w") as f:
            f.write(INVALID_SECRET_CONFIG)
        outputs["vitalsd validate (invalid)"] = self.run_cli("validate", config=bad)
        self.assertIn("<redacted>", outputs["vitalsd validate (invalid)"])
        self.assertIn("pidfile", outputs["vitalsd check"])
        d.stop()
        outputs["log"] = "\n".join(d.log())
        self.assertIn("refused a batch", outputs["log"])
        self.read_state(outputs, "after stop")
        # Receivers are reached at the URLs and with the token as written: the secret does its job there.
        self.assertIn((f"/hook/{CANARY}?token={CANARY}", f"Bearer {CANARY}"), [r[:2] for r in self.echo.received])
        outputs["notification payloads"] = "\n".join(body for _, _, body in self.echo.received)

        for where, text in outputs.items():
            for secret in (CANARY, SPECIAL, DB_PASSWORD, LOCK_KEY):
                for form in forms(secret):
                    self.assertNotIn(form, text, f"{secret!r} as {form!r} leaked into {where}")

    def read_state(self, outputs, when):
        base = os.path.join(self.work, CANARY, "state.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(base + suffix):
                with open(base + suffix, "rb") as f:
                    outputs[f"state.db{suffix} ({when})"] = f.read().decode("latin-1")


if __name__ == "__main__":
    unittest.main()
