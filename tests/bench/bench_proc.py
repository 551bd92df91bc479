"""What the Python benchmarks share: free ports, a process's CPU and memory, starting and stopping
the processes under test, a keep-alive scrape client and reading what it fetched, and throwaway
Redis and PostgreSQL servers."""

import gzip
import http.client
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """CPU seconds of `pid` so far: the sum over its threads of the nanoseconds each has run
    (/proc/PID/task/TID/schedstat), where /proc/PID/stat counts in 10 ms ticks, too coarse for a
    daemon that runs for a few milliseconds a second. A thread that exits takes its share with it,
    so where a thread ended, /proc/PID/stat's count is used when it is the larger."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # ended meanwhile
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = (int(fields[11]) + int(fields[12])) / CLK_TCK
    precise = total / 1e9
    return precise if ticks < precise + 0.05 else ticks


def memory_mib(pid):
    """(VmRSS, VmHWM) of `pid` in MiB: resident memory now and its peak so far."""
    with open(f"/proc/{pid}/status") as f:
        kib = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", f.read(), re.M))
    return int(kib["VmRSS"]) / 1024, int(kib["VmHWM"]) / 1024


def wait_for(predicate, limit=30.0, what="condition"):
    """Polls `predicate` until it is truthy and returns its value; the limit is a safety net."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {limit:.0f} s waiting for {what}")


def as_postgres(cmd):
    """PostgreSQL refuses to run as root: as root, run `cmd` as the postgres user."""
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


def start_logged(cmd, log_path, env=None):
    """Starts `cmd` with its output in `log_path`, in a session of its own so that a Ctrl-C reaches
    only the benchmark, which then stops everything in order."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                start_new_session=True)


def stop_process(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def log_tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Scraper:
    """GETs one URL over a kept-alive connection with `Accept-Encoding: gzip`, as Prometheus does."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def get(self, path):
        """(status, decompressed body, bytes on the wire, seconds from request to last byte). Raises
        OSError when the request fails; one that fails on a kept-alive connection, which the server
        may have closed while idle, is tried once more on a new one."""
        while True:
            reused = self.conn is not None
            if not reused:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                began = time.perf_counter()
                self.conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
                response = self.conn.getresponse()
                wire = response.read()
                took = time.perf_counter() - began
                break
            except (OSError, http.client.HTTPException) as e:
                self.close()
                if not reused:
                    raise OSError(f"GET {path} on port {self.port}: {e}") from e
        body = gzip.decompress(wire) if response.getheader("Content-Encoding") == "gzip" else wire
        return response.status, body, len(wire), took

    def ready(self, path):
        try:
            return self.get(path)[0] == 200
        except OSError:
            return False

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def samples(text, name):
    """(labels, value) of every sample of `name` in an exposition."""
    return [(dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or "")), float(m.group(2)))
            for m in re.finditer(rf"^{name}(?:{{(.*)}})? (\S+)$", text, re.M)]


def delta(before, after, name, **labels):
    """How much the samples of `name` matching `labels` grew between two expositions."""
    def total(text):
        return sum(v for have, v in samples(text, name) if all(have.get(k) == w for k, w in labels.items()))
    return total(after) - total(before)


def quantile(q, cumulative):
    """histogram_quantile() over {upper bound: cumulative count}: linear within the bucket."""
    bounds = sorted(cumulative)
    rank, lower, below = q * cumulative[math.inf], 0.0, 0.0
    for bound in bounds:
        if cumulative[bound] >= rank and cumulative[bound] > 0:
            if bound == math.inf:
                return lower
            return lower + (bound - lower) * (rank - below) / (cumulative[bound] - below)
        lower, below = bound, cumulative[bound]
    return math.nan


def start_and_wait(cmd, log_path, port, path="/metrics", env=None):
    """Starts a server and waits until it answers `path` on `port`; exits with its log if it cannot."""
    proc = start_logged(cmd, log_path, env)
    client = Scraper(port)
    try:
        wait_for(lambda: proc.poll() is not None or client.ready(path), what=f"{cmd[0]} to answer")
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[0]} did not start:\n{log_tail(log_path)}")
    except BaseException:  # Ctrl-C included: nobody else knows this process yet
        stop_process(proc)
        raise
    finally:
        client.close()
    return proc


class RedisServer:
    """A throwaway redis-server on loopback, nothing saved to disk."""

    def __init__(self, workdir):
        self.port = free_port()
        self.proc = self._start(workdir)

    def _start(self, workdir):
        proc = start_logged(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir], os.path.join(workdir, "redis.log"))
        try:
            wait_for(lambda: proc.poll() is not None or self._answers(), what="redis-server to answer PING")
            if proc.poll() is not None:
                raise SystemExit("redis-server did not start:\n" + log_tail(os.path.join(workdir, "redis.log")))
        except BaseException:
            stop_process(proc)
            raise
        return proc

    def _answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def close(self):
        stop_process(self.proc)


class PostgresCluster:
    """A throwaway PostgreSQL cluster on loopback (trust auth, no fsync), in `workdir`/pg."""

    def __init__(self, workdir):
        self.port = free_port()
        version = max(os.listdir("/usr/lib/postgresql"), key=lambda v: int(v.split(".")[0]))
        self.bin = f"/usr/lib/postgresql/{version}/bin"
        self.root = os.path.join(workdir, "pg")
        self.data = os.path.join(self.root, "data")
        os.mkdir(self.root)
        if os.geteuid() == 0:
            os.chmod(workdir, 0o711)  # the postgres user must reach its own folder inside ours
            shutil.chown(self.root, "postgres")
        self._run([f"{self.bin}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust"])
        try:
            self._run([f"{self.bin}/pg_ctl", "-D", self.data, "-w", "-l", os.path.join(self.root, "server.log"),
                       "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off", "start"])
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                self.postmaster = int(f.readline())
        except BaseException:  # pg_ctl may have started the server before it was interrupted
            self.close()
            raise

    def _run(self, cmd):
        log_path = os.path.join(self.root, "setup.log")
        with open(log_path, "ab") as log:
            if subprocess.run(as_postgres(cmd), stdout=log, stderr=log).returncode != 0:
                raise SystemExit(f"{os.path.basename(cmd[0])} failed:\n{log_tail(log_path)}")

    def conninfo(self):
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres"

    def cpu_seconds(self):
        """CPU of the whole cluster so far: the postmaster, every live child, and (through the
        postmaster's cutime and cstime) every child it has reaped, such as closed backends.
        A backend reaped between the two reads below is missed or counted twice: a few ms."""
        total = 0.0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited while we looked
            if int(fields[1]) == self.postmaster:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        with open(f"/proc/{self.postmaster}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return total + sum(int(v) for v in fields[11:15]) / CLK_TCK

    def close(self):
        subprocess.run(as_postgres([f"{self.bin}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
