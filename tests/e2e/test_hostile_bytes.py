"""Bytes a target or the host chose -- a process whose name is the single
byte 0xff, an HTTP answer and a WebSocket answer that are not UTF-8 -- leave
vitalsd as valid UTF-8 everywhere: /metrics passes promtool, the JSON API
parses strictly, the incident keeps its evidence, the status page, the log,
`vitalsd check` and `vitalsd incidents` show U+FFFD where the bytes were.
One raw byte in a label value would make Prometheus drop the whole scrape,
so any local user could blind the daemon by naming a process."""

import http.server
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest
import urllib.request

from vitals_harness import VITALSD, Daemon, sample, wait_for

REPLACEMENT = "\ufffd"

# Renames itself to 0xff (prctl PR_SET_NAME), listens, prints its port and
# waits for stdin to close. Its argv carries raw bytes too (the cmdline evidence).
OWNER_SCRIPT = textwrap.dedent("""\
    import ctypes, socket, sys
    ctypes.CDLL(None).prctl(15, b"\\xff", 0, 0, 0)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    print(s.getsockname()[1], flush=True)
    sys.stdin.read()
    """)

# Answers every message with a binary frame that is not UTF-8.
WS_SCRIPT = textwrap.dedent("""\
    import asyncio, websockets
    async def answer(ws, path=None):
        async for _ in ws:
            await ws.send(b"\\xff\\xfe pong \\xed\\xa0\\x80")
    async def main():
        async with websockets.serve(answer, "127.0.0.1", 0) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()
    asyncio.run(main())
    """)


class HostileHandler(http.server.BaseHTTPRequestHandler):
    """A 500 whose reason phrase, header and body hold ill-formed UTF-8."""

    def do_GET(self):
        body = b"\xff\xfe oops \xed\xa0\x80 cut \xe2\x82"
        self.send_response(500, "Bad \xff")  # str is sent as latin-1: the byte 0xff
        self.send_header("X-Odd", "\xff\xfe")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def strict_text(raw):
    return raw.decode("utf-8", errors="strict")


class HostileBytesTest(unittest.TestCase):
    def setUp(self):
        # Outside the daemon's own directory: `vitalsd incidents` reads the state after the daemon is gone.
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-hostile-")
        self.addCleanup(work.cleanup)
        self.state = os.path.join(work.name, "state.db")

        # A script file, not -c: the command line evidence is cut short, and the raw argument must be in it.
        owner_script = os.path.join(work.name, "owner.py")
        with open(owner_script, "w") as f:
            f.write(OWNER_SCRIPT)
        self.owner = subprocess.Popen([sys.executable, owner_script, b"--tag=\xfe\xff"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.addCleanup(self.owner.wait)
        self.addCleanup(self.owner.stdin.close)
        self.addCleanup(self.owner.stdout.close)
        self.owner_port = int(self.owner.stdout.readline())
        with open(f"/proc/{self.owner.pid}/comm", "rb") as f:
            self.assertEqual(f.read(), b"\xff\n")  # the kernel kept the byte as given

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HostileHandler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.addCleanup(self.http.server_close)
        self.addCleanup(self.http.shutdown)

        # Debian's python3-websockets lives with the system Python.
        self.ws = subprocess.Popen(["/usr/bin/python3", "-c", WS_SCRIPT], stdout=subprocess.PIPE)
        self.addCleanup(self.ws.stdout.close)
        self.addCleanup(self.ws.wait)
        self.addCleanup(self.ws.kill)
        self.ws_port = int(self.ws.stdout.readline())

        self.config = textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            state: {{path: {self.state}}}
            probes:
              - {{name: owner, type: port, port: {self.owner_port}, expect_process: node,
                  interval: 1s, timeout: 900ms}}
              - {{name: web, type: http, url: "http://127.0.0.1:{self.http.server_address[1]}/",
                  interval: 1s, timeout: 900ms}}
              - {{name: ws, type: websocket, url: "ws://127.0.0.1:{self.ws_port}/", send: ping,
                  interval: 1s, timeout: 900ms}}
            alerts:
              evaluation_interval: 100ms
              builtin:
                ProbeDown: {{for: 200ms}}
            """)

    def get_raw(self, d, path):
        with urllib.request.urlopen(d.base + path, timeout=10) as r:
            self.assertEqual(r.status, 200)
            return r.read()

    def get_json(self, d, path):
        return json.loads(strict_text(self.get_raw(d, path)))

    def incidents(self, d):
        """(alertname, probe) -> incident."""
        found = self.get_json(d, "/api/v1/incidents")["incidents"]
        return {(i["alertname"], i["labels"].get("probe")): i for i in found}

    def probes(self, d):
        return {p["name"]: p for p in self.get_json(d, "/api/v1/probes")["probes"]}

    def test_every_exit_is_valid_utf8_with_the_bytes_replaced(self):
        d = Daemon(self.config)
        self.addCleanup(d.stop)
        wanted = {("PortConflict", "owner"), ("ProbeDown", "web")}
        incidents = wait_for(lambda: (lambda i: i if wanted <= i.keys() else None)(self.incidents(d)),
                             what="PortConflict on owner and ProbeDown on web")

        # /metrics: promtool accepts it, and the process label says U+FFFD.
        exposition = strict_text(self.get_raw(d, "/metrics"))
        check = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(sample(exposition, "vitals_port_owner_info", probe="owner", process=REPLACEMENT), 1)
        self.assertEqual(sample(exposition, "vitals_port_conflict", probe="owner"), 1)

        # /api/v1/probes: the bytes are in cause and evidence, replaced.
        probes = self.probes(d)
        owner = probes["owner"]["last"]
        self.assertEqual(owner["reason"], "conflict")
        self.assertIn(f"owned by {REPLACEMENT} (pid {self.owner.pid})", owner["error"])
        self.assertIn(f"--tag={REPLACEMENT}{REPLACEMENT}", json.dumps(owner["evidence"], ensure_ascii=False))
        web = probes["web"]["last"]
        self.assertIn(f"{REPLACEMENT}{REPLACEMENT} oops", web["evidence"]["body"])
        self.assertIn(REPLACEMENT, web["error"])
        ws = wait_for(lambda: self.probes(d)["ws"]["last"], what="a WebSocket run")
        self.assertIn(f"{REPLACEMENT}{REPLACEMENT} pong", ws["evidence"]["answer"])

        # The incidents keep the evidence seen at firing, not {}.
        conflict = incidents[("PortConflict", "owner")]["evidence"]
        self.assertEqual(conflict["probe"], "owner")
        self.assertIn(f"owned by {REPLACEMENT}", conflict["cause"])
        self.assertTrue(conflict["evidence"])
        down = incidents[("ProbeDown", "web")]["evidence"]
        self.assertEqual(down["probe"], "web")
        self.assertIn(REPLACEMENT, down["evidence"]["body"])
        self.get_json(d, "/api/v1/alerts")  # parses strictly

        page = strict_text(self.get_raw(d, "/"))
        self.assertIn(f"owned by {REPLACEMENT}", page)
        # The run history quotes each failed run's cause: the page's strip and the API.
        self.assertIn(f"owned by {REPLACEMENT}", strict_text(self.get_raw(d, "/probes/owner")))
        history = self.get_json(d, "/api/v1/probes/owner/history?range=1h")
        self.assertIn(f"owned by {REPLACEMENT}", " ".join(r["cause"] for r in history["recent_runs"]))

        # The log: the harness decodes stderr strictly, so a raw byte would have ended its reader.
        wait_for(lambda: d.find_log(f"probe web is down: .*{REPLACEMENT}"), what="the log line")

        # vitalsd check runs the same probes once and prints what they saw.
        out = subprocess.run([VITALSD, "check", "-c", d.config_path], capture_output=True, timeout=60)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(f"owned by {REPLACEMENT}", strict_text(out.stdout))

        d.stop()  # writes what it has left
        for args in (["--json"], []):
            out = subprocess.run([VITALSD, "incidents", "--state", self.state, *args], capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(f"owned by {REPLACEMENT}", strict_text(out.stdout))


if __name__ == "__main__":
    unittest.main()
