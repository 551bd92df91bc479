#!/usr/bin/env python3
"""Soak test: the whole daemon under steady load and flapping targets.

Usage: tests/soak/soak.py VITALSD [minutes=10]

Opt-in, never run by ctest (it takes minutes). Starts real targets — two
redis-servers, HTTP servers, WebSocket servers (python3-websockets), TCP
listeners, processes and SQLite files — and one vitalsd running 150 probes
of seven kinds every 250 ms with the built-in alerts and the state store on.
For the whole run it flaps the targets (Redis and WebSocket servers stopped
and started, HTTP answers switching between 200, 500 and a dropped
connection, listeners closed and reopened), scrapes /metrics and the JSON
API every second, and samples vitalsd's RSS, open fds and threads every
5 s. It prints the figures and exits 1 when anything grows: RSS, fds or
threads higher at the end than after warm-up beyond a small margin, a
probe that stopped running, a scrape that failed, or the daemon gone.
"""

import http.server
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from vitals_harness import free_port, sample, wait_for  # noqa: E402

WS_SERVER = os.path.join(HERE, "..", "fixtures", "ws_pong_server.py")
INTERVAL = "250ms"
TIMEOUT = "200ms"


class FlappingHttp:
    """An HTTP server whose answer changes with `mode`: ok, error or drop."""

    def __init__(self):
        self.mode = "ok"
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if outer.mode == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status = 200 if outer.mode == "ok" else 500
                body = json.dumps({"status": "healthy" if status == 200 else "down", "queue": random.randint(0, 9)})
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body.encode())
                except OSError:
                    pass  # the probe gave up at its deadline: expected while flapping

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def flap(self):
        self.mode = random.choice(["ok", "ok", "error", "drop"])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Restartable:
    """A child process stopped and started again on the same port."""

    def __init__(self, argv_for_port, ready):
        self.port = free_port()
        self.argv = argv_for_port(self.port)
        self.ready = ready
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.ready(self.port), what=f"{self.argv[0]} on port {self.port}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def flap(self):
        if self.proc.poll() is None:
            self.stop()
        else:
            self.start()

    def close(self):
        self.stop()


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class FlappingListener:
    def __init__(self):
        self.sock = None
        self.port = free_port()
        self.open()

    def open(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)

    def flap(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        else:
            self.open()

    def accept_all(self):
        # Keep the backlog from filling: accept and close what arrived.
        if not self.sock:
            return
        self.sock.setblocking(False)
        try:
            while True:
                c, _ = self.sock.accept()
                c.close()
        except OSError:
            pass

    def close(self):
        if self.sock:
            self.sock.close()


class Stoppable:
    """A child killed when the soak ends, however it ends."""

    def __init__(self, proc):
        self.proc = proc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def process_sample(pid):
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    rss_kib = int(status["VmRSS"].split()[0])
    threads = int(status["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kib / 1024.0, fds, threads


def config(tmp, redis, http_servers, ws_servers, listeners, sqlite_paths, process_name):
    probes = []
    for i in range(20):
        probes.append(f"{{name: redis-{i}, type: redis, address: '127.0.0.1:{redis[i % 2].port}'}}")
    for i in range(30):
        s = http_servers[i % len(http_servers)]
        probes.append(f"{{name: http-{i}, type: http, url: 'http://127.0.0.1:{s.port}/health', "
                      f"expect_json: {{status: healthy}}}}")
    for i in range(20):
        w = ws_servers[i % len(ws_servers)]
        persistent = "true" if i % 2 else "false"
        probes.append(f"{{name: ws-{i}, type: websocket, url: 'ws://127.0.0.1:{w.port}/', "
                      f"send: '{{\"type\":\"ping\"}}', expect_regex: pong, persistent: {persistent}}}")
    for i in range(40):
        probes.append(f"{{name: port-{i}, type: port, port: {listeners[i % len(listeners)].port}}}")
    for i in range(15):
        probes.append(f"{{name: proc-{i}, type: process, match: {{name: {process_name}}}}}")
    for i in range(10):
        probes.append(f"{{name: disk-{i}, type: disk, path: {tmp}}}")
    for i in range(15):
        probes.append(f"{{name: sqlite-{i}, type: sqlite, path: {sqlite_paths[i % len(sqlite_paths)]}}}")
    assert len(probes) == 150
    return (f"server: {{listen: 127.0.0.1:0}}\n"
            f"log: {{level: info, format: text}}\n"
            f"state: {{path: {tmp}/state.db}}\n"
            f"defaults: {{interval: {INTERVAL}, timeout: {TIMEOUT}}}\n"
            f"alerts: {{evaluation_interval: 1s}}\n"
            f"probes:\n" + "".join(f"  - {p}\n" for p in probes))


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    vitalsd = os.path.abspath(sys.argv[1])
    minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    random.seed(7)
    tmp = tempfile.mkdtemp(prefix="vitals-soak-")
    cleanup = []
    try:
        redis_server = shutil.which("redis-server")
        redis = [Restartable(lambda p: [redis_server, "--port", str(p), "--bind", "127.0.0.1", "--save", "",
                                        "--appendonly", "no", "--dir", tmp], accepts) for _ in range(2)]
        cleanup += redis
        ws = [Restartable(lambda p: ["/usr/bin/python3", WS_SERVER, str(p)], accepts) for _ in range(3)]
        cleanup += ws
        http_servers = [FlappingHttp() for _ in range(3)]
        cleanup += http_servers
        listeners = [FlappingListener() for _ in range(8)]
        cleanup += listeners
        sqlite_paths = []
        for i in range(3):
            path = os.path.join(tmp, f"app{i}.db")
            with sqlite3.connect(path) as db:
                db.execute("create table t (x)")
            sqlite_paths.append(path)
        cleanup += [Stoppable(subprocess.Popen(["sleep", "100000"])) for _ in range(3)]

        config_path = os.path.join(tmp, "vitals.yaml")
        with open(config_path, "w") as f:
            f.write(config(tmp, redis, http_servers, ws, listeners, sqlite_paths, "sleep"))
        log = open(os.path.join(tmp, "vitalsd.log"), "w")
        daemon = subprocess.Popen([vitalsd, "run", "-c", config_path], stderr=log, stdout=subprocess.DEVNULL)
        cleanup.append(Stoppable(daemon))
        base = None

        def find_base():
            if daemon.poll() is not None:
                raise SystemExit("vitalsd exited at start:\n" + open(log.name).read()[-3000:])
            with open(log.name) as f:
                for line in f:
                    if "listening on http://" in line:
                        return line.split("listening on ")[1].split()[0].rstrip("/")
            return None
        base = wait_for(find_base, what="vitalsd listening")

        def get(path):
            with urllib.request.urlopen(base + path, timeout=5) as r:
                return r.read()

        warmup = 60.0 if minutes >= 5 else minutes * 60 / 5
        duration = minutes * 60
        started = time.monotonic()
        samples = []  # (t, rss, fds, threads)
        scrape_failures = 0
        scrapes = 0
        flaps = 0
        next_flap = next_sample = time.monotonic()
        while time.monotonic() - started < duration:
            now = time.monotonic()
            if daemon.poll() is not None:
                print(f"FAIL: vitalsd exited with {daemon.returncode}")
                return 1
            for listener in listeners:
                listener.accept_all()
            if now >= next_flap:
                random.choice(redis + ws + http_servers + listeners).flap()
                flaps += 1
                next_flap = now + random.uniform(1, 4)
            if now >= next_sample:
                samples.append((now - started, *process_sample(daemon.pid)))
                next_sample = now + 5
            try:
                get("/metrics")
                json.loads(get("/api/v1/probes"))
                json.loads(get("/api/v1/incidents"))
                scrapes += 1
            except Exception as e:  # noqa: BLE001 — any failure counts
                scrape_failures += 1
                print(f"scrape failed: {e}")
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))

        metrics = get("/metrics").decode()
        runs = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("vitals_probe_runs_total{"))
        skipped = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                      if line.startswith("vitals_probe_runs_total{") and 'result="skipped"' in line)
        never_ran = [line for line in metrics.splitlines()
                     if line.startswith("vitals_probe_last_run_timestamp_seconds{") and line.endswith(" 0")]
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)

        after = [s for s in samples if s[0] >= warmup]
        first, last = after[0], after[-1]
        rss = [s[1] for s in after]
        fd_slope = (last[2] - first[2]) / max(1.0, (last[0] - first[0]) / 60)
        print(f"soak: 150 probes every {INTERVAL} for {minutes:g} min, {flaps} target flaps, "
              f"{scrapes} scrapes ({scrape_failures} failed), {runs:.0f} runs, {skipped:.0f} skipped")
        print(f"rss_MiB first {first[1]:.1f} last {last[1]:.1f} max {max(rss):.1f}; "
              f"fds first {first[2]} last {last[2]} max {max(s[2] for s in after)} (slope {fd_slope:+.2f}/min); "
              f"threads first {first[3]} last {last[3]}; exit {daemon.returncode}")
        problems = []
        if last[1] > first[1] * 1.10 + 1.0:
            problems.append("RSS grew")
        if last[2] > first[2] + 8:
            problems.append("fds grew")
        if last[3] > first[3]:
            problems.append("threads grew")
        if scrape_failures:
            problems.append("scrapes failed")
        if never_ran:
            problems.append(f"{len(never_ran)} probes never ran")
        if daemon.returncode != 0:
            problems.append("vitalsd did not stop cleanly")
        for p in problems:
            print("FAIL:", p)
        return 1 if problems else 0
    finally:
        for c in cleanup:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
