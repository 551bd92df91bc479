#!/usr/bin/env python3
"""Benchmark, not a test: what one Redis and one PostgreSQL probe cost.

Starts a throwaway redis-server and PostgreSQL cluster on loopback, then
1. runs vitalsd with one probe of each kind at a short interval and reports
   CPU microseconds per run and server-side commands/transactions per run;
2. runs vitalsd probing both at 1 s, then prometheus-redis-exporter and
   prometheus-postgres-exporter (Debian packages) scraped at 1 s against the
   same servers, and prints RSS and CPU of each side by side.

Usage: data_probes_bench.py VITALSD [seconds=20]
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGESIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, limit=30.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime (fields 14, 15)


def rss_mib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def as_postgres(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


class Servers:
    def __init__(self, workdir):
        self.redis_port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)
        self.pg_port = free_port()
        bindir = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: int(v.split(".")[0]))[-1]
        self.pg_bin = f"/usr/lib/postgresql/{bindir}/bin"
        self.pg_data = os.path.join(workdir, "pg")
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres")
        subprocess.run(as_postgres([f"{self.pg_bin}/initdb", "-D", self.pg_data, "-U", "postgres", "--auth=trust"]),
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(as_postgres([f"{self.pg_bin}/pg_ctl", "-D", self.pg_data, "-w", "-l",
                                    os.path.join(workdir, "pg.log"), "-o",
                                    f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {workdir} -c fsync=off",
                                    "start"]), check=True, stdout=subprocess.DEVNULL)
        wait_for(lambda: self.redis_info("total_commands_processed") is not None)

    def redis_info(self, key):
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=2) as s:
                s.sendall(b"INFO stats\r\n")
                data = b""
                while not data.endswith(b"\r\n\r\n") and b"total_commands_processed" not in data:
                    data += s.recv(65536)
                data += s.recv(65536) if b"\r\n\r\n" not in data else b""
            for line in data.decode().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split(":")[1])
        except OSError:
            return None
        return None

    def pg_xacts(self):
        out = subprocess.run(as_postgres(["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
                                          "-At", "-c",
                                          "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"]),
                             capture_output=True, text=True, check=True)
        return int(out.stdout.strip())

    def close(self):
        subprocess.run(as_postgres([f"{self.pg_bin}/pg_ctl", "-D", self.pg_data, "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.redis.terminate()
        self.redis.wait()


def start_vitalsd(vitalsd, workdir, probes):
    port = free_port()
    path = os.path.join(workdir, "vitals.yaml")
    with open(path, "w") as f:
        f.write(f"server: {{listen: 127.0.0.1:{port}}}\nlog: {{level: warn}}\nprobes:\n{probes}")
    proc = subprocess.Popen([vitalsd, "run", "-c", path], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"

    def up():
        try:
            scrape(url)
            return True
        except OSError:
            return False
    wait_for(up)
    return proc, url


def per_run_cost(vitalsd, workdir, servers, kind, seconds):
    target = (f"address: 127.0.0.1:{servers.redis_port}" if kind == "redis" else
              f'conninfo: "host=127.0.0.1 port={servers.pg_port} dbname=postgres user=postgres"')
    proc, url = start_vitalsd(vitalsd, workdir, f"  - {{name: p, type: {kind}, {target}, interval: 20ms, timeout: 15ms}}\n")
    try:
        time.sleep(1)  # first connection made, timers settled
        runs0 = metric(scrape(url), "vitals_probe_runs_total", probe="p", result="ok")
        cpu0 = cpu_seconds(proc.pid)
        server0 = servers.redis_info("total_commands_processed") if kind == "redis" else servers.pg_xacts()
        time.sleep(seconds)
        server1 = servers.redis_info("total_commands_processed") if kind == "redis" else servers.pg_xacts()
        cpu1 = cpu_seconds(proc.pid)
        runs1 = metric(scrape(url), "vitals_probe_runs_total", probe="p", result="ok")
        failed = metric(scrape(url), "vitals_probe_runs_total", probe="p", result="fail") + \
            metric(scrape(url), "vitals_probe_runs_total", probe="p", result="timeout")
    finally:
        proc.terminate()
        proc.wait()
    runs = max(runs1 - runs0, 1)
    # The server-side counters also count our own INFO/psql reads (one each).
    return runs, (cpu1 - cpu0) / runs * 1e6, (server1 - server0 - 1) / runs, failed


def side_by_side(vitalsd, workdir, servers, seconds):
    rows = []
    probes = (f"  - {{name: cache, type: redis, address: 127.0.0.1:{servers.redis_port}, interval: 1s, timeout: 500ms}}\n"
              f'  - {{name: db, type: postgres, conninfo: "host=127.0.0.1 port={servers.pg_port} '
              f'dbname=postgres user=postgres", interval: 1s, timeout: 500ms}}\n')
    proc, url = start_vitalsd(vitalsd, workdir, probes)
    try:
        time.sleep(2)
        cpu0 = cpu_seconds(proc.pid)
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:  # scraped at 1 s too, as Prometheus would
            scrape(url)
            time.sleep(1)
        rows.append(("vitalsd (redis + postgres probes)", cpu_seconds(proc.pid) - cpu0, rss_mib(proc.pid)))
    finally:
        proc.terminate()
        proc.wait()

    redis_port, pg_port = free_port(), free_port()
    env = dict(os.environ, DATA_SOURCE_NAME=f"postgresql://postgres@127.0.0.1:{servers.pg_port}/postgres?sslmode=disable")
    exporters = [
        ("prometheus-redis-exporter", subprocess.Popen(
            ["prometheus-redis-exporter", f"--redis.addr=redis://127.0.0.1:{servers.redis_port}",
             f"--web.listen-address=127.0.0.1:{redis_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
         f"http://127.0.0.1:{redis_port}/metrics"),
        ("prometheus-postgres-exporter", subprocess.Popen(
            ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{pg_port}"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
         f"http://127.0.0.1:{pg_port}/metrics"),
    ]
    try:
        for _, p, url in exporters:
            def up(url=url):
                try:
                    scrape(url)
                    return True
                except OSError:
                    return False
            wait_for(up)
        time.sleep(2)
        cpu0 = [cpu_seconds(p.pid) for _, p, _ in exporters]
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            for _, _, url in exporters:
                scrape(url)
            time.sleep(1)
        total_cpu, total_rss = 0.0, 0.0
        for (name, p, _), c0 in zip(exporters, cpu0):
            cpu, rss = cpu_seconds(p.pid) - c0, rss_mib(p.pid)
            rows.append((name, cpu, rss))
            total_cpu += cpu
            total_rss += rss
        rows.append(("both exporters together", total_cpu, total_rss))
    finally:
        for _, p, _ in exporters:
            p.terminate()
            p.wait()
    return rows


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    vitalsd = os.path.abspath(sys.argv[1])
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory(prefix="vitals-bench-") as workdir:
        servers = Servers(workdir)
        try:
            print(f"one probe run, interval 20 ms, {seconds // 2} s measured")
            print(f"{'kind':10} {'runs':>7} {'cpu_us/run':>11} {'server ops/run':>15} {'failed':>7}")
            for kind in ("redis", "postgres"):
                runs, us, ops, failed = per_run_cost(vitalsd, workdir, servers, kind, max(seconds // 2, 2))
                print(f"{kind:10} {runs:7.0f} {us:11.1f} {ops:15.2f} {failed:7.0f}")
            print()
            print(f"probing one Redis and one PostgreSQL at 1 s, scraped at 1 s, {seconds} s measured")
            print(f"{'process':36} {'cpu_s':>7} {'cpu_%':>6} {'rss_MiB':>8}")
            for name, cpu, rss in side_by_side(vitalsd, workdir, servers, seconds):
                print(f"{name:36} {cpu:7.3f} {100 * cpu / seconds:6.2f} {rss:8.1f}")
        finally:
            servers.close()


if __name__ == "__main__":
    main()
