"""Helpers for end-to-end tests: run vitalsd as a user would and talk to it."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

VITALSD = os.environ.get("VITALSD", "vitalsd")


def wait_for(predicate, limit=20.0, what="condition"):
    """Polls predicate until it is truthy; the limit is a safety net, not a timing assert."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listener(backlog=16):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    return s


def comm_of(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


class Daemon:
    """vitalsd run -c FILE, with its stderr collected line by line."""

    def __init__(self, config_text, extra_env=None, extra_args=()):
        self.dir = tempfile.TemporaryDirectory(prefix="vitals-e2e-")
        self.config_path = os.path.join(self.dir.name, "vitals.yaml")
        self.write_config(config_text)
        env = dict(os.environ, **(extra_env or {}))
        self.proc = subprocess.Popen([VITALSD, "run", "-c", self.config_path, *extra_args], stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, text=True, env=env)
        self.lines = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        listening = r"listening on (https?)://([0-9.]+):(\d+)/"
        line = wait_for(lambda: self.proc.poll() is not None or self.find_log(listening), what="listening line")
        assert self.proc.poll() is None, "vitalsd exited:\n" + "\n".join(self.log())
        m = re.search(listening, line)
        self.port = int(m.group(3))
        self.base = f"{m.group(1)}://{m.group(2)}:{m.group(3)}"

    def _read(self):
        for line in self.proc.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log(self):
        with self._lock:
            return list(self.lines)

    def find_log(self, pattern):
        for line in self.log():
            if re.search(pattern, line):
                return line
        return None

    def write_config(self, text):
        # Each daemon keeps its state in its own directory unless told otherwise.
        if not re.search(r"^state:", text, re.M):
            text = text.rstrip("\n") + f"\nstate: {{path: {self.dir.name}/state.db}}\n"
        with open(self.config_path, "w") as f:
            f.write(text)

    def get(self, path, method="GET", headers=None):
        req = urllib.request.Request(self.base + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        status, body = self.get("/metrics")
        assert status == 200, body
        return body

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)  # EOF once the process is gone
        self.proc.stderr.close()
        self.dir.cleanup()


def sample(metrics_text, name, **labels):
    """Value of the series `name` whose labels include `labels`, or None."""
    for line in metrics_text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            return float(m.group(4))
    return None


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
    def __init__(self, extra_args=()):
        binary = shutil.which("redis-server")
        assert binary, "redis-server (Debian package redis-server) is required"
        self.dir = tempfile.TemporaryDirectory(prefix="vitals-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir.name, "--daemonize", "no", *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def accepts():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    reply = s.recv(64)
                    return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")
            except OSError:
                return False
        wait_for(accepts, what="redis-server to accept")

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.dir.cleanup()
