#!/usr/bin/env python3
"""Benchmark, not a test: what one Redis and one PostgreSQL probe cost, in the daemon and on the server.

Starts a throwaway redis-server and PostgreSQL cluster on loopback, with `sessions` client sessions
on the cluster (idle, idle in transaction, running, one waiting on a lock), then
1. runs vitalsd with one probe of each kind at a short interval and reports, per run, the daemon's
   CPU, the server's CPU (redis-server; the probe's PostgreSQL backend and the whole cluster) and
   the server-side commands or transactions;
2. runs vitalsd probing both at 1 s, then prometheus-redis-exporter and prometheus-postgres-exporter
   (Debian packages) scraped at 1 s against the same servers, and prints RSS and CPU of each side
   by side.

Usage: data_probes_bench.py VITALSD [seconds=20] [sessions=20]
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

from bench_proc import (PostgresCluster, RedisServer, Scraper, as_postgres, cpu_seconds, free_port,
                        memory_mib, start_and_wait, stop_process, wait_for)


def cpu_ns_seconds(pid):
    """CPU seconds of every thread of `pid`, from /proc/PID/task/*/schedstat: nanoseconds, where
    /proc/PID/stat counts 10 ms ticks, too coarse for a few hundred runs of well under a millisecond."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended while we looked
    return total / 1e9


def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def redis_info(port, key):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"INFO stats\r\n")
        data = b""
        while b"\r\n\r\n" not in data or key.encode() not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    for line in data.decode().splitlines():
        if line.startswith(key + ":"):
            return int(line.split(":")[1])
    raise RuntimeError(f"INFO has no {key}")


def psql(cluster, sql):
    out = subprocess.run(as_postgres(["psql", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                                      "-d", "postgres", "-At", "-c", sql]),
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


class Sessions:
    """`count` psql sessions held open on the cluster, the kind of mix a probe reads: mostly idle,
    some idle in a transaction, two running, one lock holder and one session waiting for it."""

    def __init__(self, cluster, count):
        self.procs = []
        psql(cluster, "CREATE TABLE IF NOT EXISTS bench_locked (id int)")
        scripts = (["BEGIN; LOCK TABLE bench_locked;", "SELECT * FROM bench_locked;", "SELECT pg_sleep(3600);",
                    "SELECT pg_sleep(3600);", "BEGIN; SELECT 1;", "BEGIN; SELECT 1;"] + ["SELECT 1;"] * count)[:count]
        try:
            for script in scripts:
                proc = subprocess.Popen(as_postgres(["psql", "-h", "127.0.0.1", "-p", str(cluster.port), "-U",
                                                     "postgres", "-d", "postgres", "-q"]),
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, text=True)
                self.procs.append(proc)
                proc.stdin.write(script + "\n")
                proc.stdin.flush()
                if script.startswith("BEGIN; LOCK"):  # the holder first, or the waiter would take the lock
                    wait_for(lambda: psql(cluster, "SELECT count(*) FROM pg_locks WHERE relation = "
                                                   "'bench_locked'::regclass AND granted") == "1",
                             what="the lock holder")
            wait_for(lambda: int(psql(cluster, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                               "'client backend' AND application_name = 'psql'")) >= count,
                     what=f"{count} sessions")
        except BaseException:
            self.close()
            raise

    def close(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def backend_cpu(cluster):
    """CPU seconds of the probe's own backend (application_name vitalsd), from /proc/PID/stat; None
    once that backend is gone (a run cut by its timeout closes the connection)."""
    pid = wait_for(lambda: psql(cluster, "SELECT pid FROM pg_stat_activity WHERE application_name = 'vitalsd'"),
                   what="the probe's session")

    def read():
        try:
            return cpu_ns_seconds(int(pid))
        except OSError:
            return None
    return read


def start_vitalsd(vitalsd, workdir, probes):
    port = free_port()
    path = os.path.join(workdir, "vitals.yaml")
    with open(path, "w") as f:
        f.write(f"server: {{listen: 127.0.0.1:{port}}}\nlog: {{level: warn}}\nprobes:\n{probes}")
    return start_and_wait([vitalsd, "run", "-c", path], os.path.join(workdir, "vitalsd.log"), port), Scraper(port)


def per_run_cost(vitalsd, workdir, redis, cluster, kind, seconds):
    """(runs, daemon us/run, server us/run, whole cluster us/run, server ops/run, failed runs); None
    where not measured."""
    target = f"address: 127.0.0.1:{redis.port}" if kind == "redis" else f'conninfo: "{cluster.conninfo()}"'
    proc, scraper = start_vitalsd(vitalsd, workdir,
                                  f"  - {{name: p, type: {kind}, {target}, interval: 50ms, timeout: 45ms}}\n")

    def runs(result):
        return metric(scraper.get("/metrics")[1].decode(), "vitals_probe_runs_total", probe="p", result=result)

    def server_ops():  # our own INFO or psql read counts once; subtracted below
        if kind == "redis":
            return redis_info(redis.port, "total_commands_processed")
        return int(psql(cluster, "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"))

    try:
        time.sleep(1)  # first connection made, timers settled
        server_cpu = (lambda: cpu_ns_seconds(redis.proc.pid)) if kind == "redis" else backend_cpu(cluster)
        runs0, cpu0, server0, cluster0, ops0 = runs("ok"), cpu_ns_seconds(proc.pid), server_cpu(), \
            cluster.cpu_seconds(), server_ops()
        time.sleep(seconds)
        ops1, cluster1, server1, cpu1, runs1 = server_ops(), cluster.cpu_seconds(), server_cpu(), \
            cpu_ns_seconds(proc.pid), runs("ok")
        failed = runs("fail") + runs("timeout")
    finally:
        stop_process(proc)
        scraper.close()
    n = max(runs1 - runs0, 1)
    whole_cluster = (cluster1 - cluster0) / n * 1e6 if kind == "postgres" else None
    server = (server1 - server0) / n * 1e6 if server1 is not None else None
    return n, (cpu1 - cpu0) / n * 1e6, server, whole_cluster, (ops1 - ops0 - 1) / n, failed


def side_by_side(vitalsd, workdir, redis, cluster, seconds):
    rows = []
    probes = (f"  - {{name: cache, type: redis, address: 127.0.0.1:{redis.port}, interval: 1s, timeout: 500ms}}\n"
              f'  - {{name: db, type: postgres, conninfo: "{cluster.conninfo()}", interval: 1s, timeout: 500ms}}\n')
    proc, scraper = start_vitalsd(vitalsd, workdir, probes)
    try:
        time.sleep(2)
        cpu0 = cpu_seconds(proc.pid)
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:  # scraped at 1 s too, as Prometheus would
            scraper.get("/metrics")
            time.sleep(1)
        rows.append(("vitalsd (redis + postgres probes)", cpu_seconds(proc.pid) - cpu0, memory_mib(proc.pid)[0]))
    finally:
        stop_process(proc)
        scraper.close()

    redis_port, pg_port = free_port(), free_port()
    env = dict(os.environ, DATA_SOURCE_NAME=f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres?sslmode=disable")
    exporters = []
    try:
        exporters.append(("prometheus-redis-exporter", start_and_wait(
            ["prometheus-redis-exporter", f"--redis.addr=redis://127.0.0.1:{redis.port}",
             f"--web.listen-address=127.0.0.1:{redis_port}"], os.path.join(workdir, "redis-exporter.log"),
            redis_port), Scraper(redis_port)))
        exporters.append(("prometheus-postgres-exporter", start_and_wait(
            ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{pg_port}"],
            os.path.join(workdir, "postgres-exporter.log"), pg_port, env=env), Scraper(pg_port)))
        time.sleep(2)
        cpu0 = [cpu_seconds(p.pid) for _, p, _ in exporters]
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            for _, _, scraper in exporters:
                scraper.get("/metrics")
            time.sleep(1)
        total_cpu, total_rss = 0.0, 0.0
        for (name, p, _), c0 in zip(exporters, cpu0):
            cpu, rss = cpu_seconds(p.pid) - c0, memory_mib(p.pid)[0]
            rows.append((name, cpu, rss))
            total_cpu += cpu
            total_rss += rss
        rows.append(("both exporters together", total_cpu, total_rss))
    finally:
        for _, p, scraper in exporters:
            stop_process(p)
            scraper.close()
    return rows


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    vitalsd = os.path.abspath(sys.argv[1])
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    session_count = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    with tempfile.TemporaryDirectory(prefix="vitals-bench-") as workdir:
        redis = RedisServer(workdir)
        cluster = sessions = None
        try:
            cluster = PostgresCluster(workdir)
            sessions = Sessions(cluster, session_count)
            print(f"one probe run, interval 50 ms, {seconds // 2} s measured; {session_count} sessions on PostgreSQL")
            print(f"{'kind':10} {'runs':>7} {'cpu_us/run':>11} {'server_us/run':>14} {'cluster_us/run':>15} "
                  f"{'server ops/run':>15} {'failed':>7}")
            for kind in ("redis", "postgres"):
                runs, us, server_us, cluster_us, ops, failed = per_run_cost(vitalsd, workdir, redis, cluster, kind,
                                                                            max(seconds // 2, 2))
                shown = [f"{v:{w}.1f}" if v is not None else f"{'-':>{w}}" for v, w in ((server_us, 14),
                                                                                        (cluster_us, 15))]
                print(f"{kind:10} {runs:7.0f} {us:11.1f} {shown[0]} {shown[1]} {ops:15.2f} {failed:7.0f}")
            print("server_us/run: redis-server, or the probe's own PostgreSQL backend ('-': it was replaced,")
            print("after a run cut by its timeout); cluster_us/run: every postgres process")
            print()
            print(f"probing one Redis and one PostgreSQL at 1 s, scraped at 1 s, {seconds} s measured")
            print(f"{'process':36} {'cpu_s':>7} {'cpu_%':>6} {'rss_MiB':>8}")
            for name, cpu, rss in side_by_side(vitalsd, workdir, redis, cluster, seconds):
                print(f"{name:36} {cpu:7.3f} {100 * cpu / seconds:6.2f} {rss:8.1f}")
        finally:
            if sessions:
                sessions.close()
            if cluster:
                cluster.close()
            redis.close()


if __name__ == "__main__":
    main()
