#!/usr/bin/env python3
"""Benchmark, not a test: the whole vitalsd (built-in alert rules, state store, /metrics scraped every
second with gzip, as Prometheus does) next to the Prometheus exporters it replaces.

w1     One Redis, one PostgreSQL, three TCP ports, one HTTP /health endpoint and one process group,
       all probed every 1 s by vitalsd; then the same job done by redis_exporter, postgres_exporter,
       blackbox_exporter and process-exporter, each scraped every 1 s. Prints the CPU and memory of
       each, and the PostgreSQL server's CPU per probe run and per scrape.
ports  N port probes at 1 s against 64 local listeners, for each N; then blackbox_exporter asked for
       N tcp_connect probes a second against the same listeners.

Usage: daemon_bench.py [w1|ports|all] [--vitalsd PATH] [--seconds 120] [--counts 1000,10000]
                       [--warmup 5] [--json FILE]
"""

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time

from bench_proc import (PostgresCluster, RedisServer, Scraper, cpu_seconds, delta, free_port, memory_mib, quantile,
                        samples, start_and_wait, stop_process)
from bench_targets import WORKER_NAME, ProbeDriver, Targets, Workers

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LISTENERS = 64
LATE_BOUNDS = (0.01, 0.1)  # seconds; both are bucket bounds of vitals_scheduler_lag_seconds
BLACKBOX_MODULES = ("modules:\n  tcp_connect: {prober: tcp, timeout: 500ms}\n"
                    "  http_2xx: {prober: http, timeout: 500ms}\n")
SUCCESS = b"\nprobe_success 1\n"


# Measuring ------------------------------------------------------------------------------------------

def measure(pids, seconds, tick):
    """Calls tick(k) at whole seconds k = 0..seconds; returns each named pid's CPU over that time and
    its memory at the end, and the time measured."""
    cpu_at_start = {name: cpu_seconds(pid) for name, pid in pids.items()}
    start = time.monotonic()
    for k in range(seconds + 1):
        time.sleep(max(0.0, start + k - time.monotonic()))
        tick(k)
    elapsed = time.monotonic() - start
    figures = {}
    for name, pid in pids.items():
        cpu = cpu_seconds(pid) - cpu_at_start[name]
        rss, peak = memory_mib(pid)
        figures[name] = {"cpu_s": cpu, "cpu_ms_per_s": 1000 * cpu / elapsed, "cpu_pct": 100 * cpu / elapsed,
                         "rss_mib": rss, "peak_mib": peak}
    return figures, elapsed


def checked_get(client, path, expect):
    """The body, or None when the request failed, did not answer 200 or lacks `expect`."""
    try:
        status, body, _, _ = client.get(path)
    except OSError:
        return None
    return body if status == 200 and expect in b"\n" + body else None


def lag_figures(before, after):
    """Scheduler lag over the measurement, from the bucket deltas of vitals_scheduler_lag_seconds."""
    buckets = {}
    for text, sign in ((after, 1), (before, -1)):
        for labels, value in samples(text, "vitals_scheduler_lag_seconds_bucket"):
            buckets[float(labels["le"])] = buckets.get(float(labels["le"]), 0) + sign * value
    figures = {f"lag_p{round(100 * q)}_ms": 1000 * quantile(q, buckets) for q in (0.5, 0.9, 0.99)}
    fired = buckets[math.inf] or math.nan
    figures.update({f"late_{round(1000 * b)}ms_pct": 100 * (fired - buckets[b]) / fired for b in LATE_BOUNDS})
    return figures


def probe_runs(before, after, **labels):
    """Probe runs between two expositions: finished ones (checks), how many failed, how many were skipped."""
    runs = {r: delta(before, after, "vitals_probe_runs_total", result=r, **labels)
            for r in ("ok", "fail", "timeout", "skipped")}
    return {"checks": runs["ok"] + runs["fail"] + runs["timeout"], "failed": runs["fail"] + runs["timeout"],
            "skipped": runs["skipped"]}


# Contestants ------------------------------------------------------------------------------------------

def start_vitalsd(args, workdir, probes):
    """vitalsd with the whole app: built-in alert rules, the state store in a folder of its own."""
    rundir = tempfile.mkdtemp(dir=workdir, prefix="vitalsd-")
    port, config = free_port(), os.path.join(rundir, "vitals.yaml")
    with open(config, "w") as f:
        f.write(f"server: {{listen: 127.0.0.1:{port}}}\nlog: {{level: warn}}\nstate: {{path: {rundir}/state.db}}\n"
                "defaults: {interval: 1s, timeout: 500ms}\nalerts: {defaults: true}\nprobes:\n"
                + "".join(f"  - {probe}\n" for probe in probes))
    return start_and_wait([args.vitalsd, "run", "-c", config], os.path.join(rundir, "vitalsd.log"), port), port


def start_blackbox(workdir):
    config, port = os.path.join(workdir, "blackbox.yml"), free_port()
    with open(config, "w") as f:
        f.write(BLACKBOX_MODULES)
    cmd = ["prometheus-blackbox-exporter", f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
    return start_and_wait(cmd, os.path.join(workdir, f"blackbox-{port}.log"), port), port


def scrape_vitalsd(client, seconds, ends, timings):
    """A tick that fetches /metrics. Keeps (when, exposition) of the first and the last fetch, where the
    counters are read, and (seconds, bytes on the wire, bytes decompressed) of every fetch, None if it failed."""
    def tick(k):
        try:
            status, body, wire, took = client.get("/metrics")
        except OSError:
            status = None
        if status != 200:
            timings.append(None)
            if k in (0, seconds):
                raise SystemExit(f"vitalsd's /metrics failed at second {k}, where the counters are read")
            return
        timings.append((took, wire, len(body)))
        if k in (0, seconds):
            ends.append((time.monotonic() - took / 2, body.decode()))
    return tick


def w1_vitalsd(args, workdir, redis, pg, targets):
    probes = ([f"{{name: cache, type: redis, address: 127.0.0.1:{redis.port}}}",
               f'{{name: db, type: postgres, conninfo: "{pg.conninfo()}"}}']
              + [f"{{name: port-{i}, type: port, port: {port}}}" for i, port in enumerate(targets.ports)]
              + [f"{{name: web, type: http, url: http://127.0.0.1:{targets.health_port}/health}}",
                 f"{{name: workers, type: process, match: {{name: {WORKER_NAME}}}, min_count: 3}}"])
    proc, port = start_vitalsd(args, workdir, probes)
    client, ends = Scraper(port), []
    try:
        time.sleep(args.warmup)  # every probe has run and connected; memory has settled
        pg_before = pg.cpu_seconds()
        figures, elapsed = measure({"vitalsd": proc.pid}, args.seconds, scrape_vitalsd(client, args.seconds, ends, []))
        pg_cpu = pg.cpu_seconds() - pg_before
    finally:
        client.close()
        stop_process(proc)
    (_, first), (_, last) = ends
    row = dict(figures["vitalsd"], name="vitalsd (full app)", **probe_runs(first, last))
    return row, {"cpu_s": pg_cpu, "elapsed": elapsed, "runs": probe_runs(first, last, probe="db")["checks"]}


EXPORTERS = ("prometheus-redis-exporter", "prometheus-postgres-exporter", "prometheus-process-exporter")


def exporter_commands(workdir, redis, pg):
    """{exporter: (its command line for a listen port, its environment)}."""
    process_config = os.path.join(workdir, "process-exporter.yml")
    with open(process_config, "w") as f:
        f.write(f'process_names:\n  - name: "{{{{.Comm}}}}"\n    comm: [{WORKER_NAME}]\n')
    pg_env = dict(os.environ, DATA_SOURCE_NAME=f"postgresql://postgres@127.0.0.1:{pg.port}/postgres?sslmode=disable")
    return {
        "prometheus-redis-exporter": (lambda port: [f"--redis.addr=redis://127.0.0.1:{redis.port}",
                                                    f"--web.listen-address=127.0.0.1:{port}"], None),
        # Its defaults: nothing but where the server is.
        "prometheus-postgres-exporter": (lambda port: [f"--web.listen-address=127.0.0.1:{port}"], pg_env),
        "prometheus-process-exporter": (lambda port: [f"-config.path={process_config}",
                                                      f"-web.listen-address=127.0.0.1:{port}"], None),
    }


def w1_exporters(args, workdir, redis, pg, targets):
    """The four exporters, each fetched every second as Prometheus would: /metrics, and blackbox's /probe
    once per target. A fetch fails when it errs, is not 200, or lacks the line saying the target is up."""
    with contextlib.ExitStack() as stack:
        procs, fetches = {}, {}
        for name, (flags, env) in exporter_commands(workdir, redis, pg).items():
            port = free_port()
            procs[name] = start_and_wait([name, *flags(port)], os.path.join(workdir, f"{name}.log"), port, env=env)
            stack.callback(stop_process, procs[name])
            fetches[name] = (Scraper(port), [("/metrics", None)])
        procs["prometheus-blackbox-exporter"], port = start_blackbox(workdir)
        stack.callback(stop_process, procs["prometheus-blackbox-exporter"])
        fetches["prometheus-blackbox-exporter"] = (Scraper(port), [
            *((f"/probe?module=tcp_connect&target=127.0.0.1:{p}", SUCCESS) for p in targets.ports),
            (f"/probe?module=http_2xx&target=http://127.0.0.1:{targets.health_port}/health", SUCCESS)])
        expect = {"prometheus-redis-exporter": b"\nredis_up 1\n", "prometheus-postgres-exporter": b"\npg_up 1\n",
                  "prometheus-process-exporter":
                      f'\nnamedprocess_namegroup_num_procs{{groupname="{WORKER_NAME}"}} 3\n'.encode()}
        counts = {name: {"checks": 0, "failed": 0} for name in procs}
        last_pg = [""]

        def tick(_):
            for name, (client, paths) in fetches.items():
                for path, success in paths:
                    body = checked_get(client, path, success or expect[name])
                    counts[name]["checks"] += 1
                    counts[name]["failed"] += body is None
                    if body and name == "prometheus-postgres-exporter":
                        last_pg[0] = body.decode()
        time.sleep(args.warmup)
        pg_before = pg.cpu_seconds()
        figures, elapsed = measure({name: p.pid for name, p in procs.items()}, args.seconds, tick)
        pg_cpu = pg.cpu_seconds() - pg_before
        for client, _ in fetches.values():
            client.close()
    rows = [dict(figures[name], name=name, **counts[name]) for name in sorted(procs)]
    scrapes = counts["prometheus-postgres-exporter"]["checks"]
    return rows, {"cpu_s": pg_cpu, "elapsed": elapsed, "scrapes": scrapes, "collects": pg_families(last_pg[0])}


def pg_families(text):
    """What postgres_exporter's defaults collect: pg_* series per group in one of its answers."""
    groups, group = {}, re.compile(r"pg_(settings|stat_[a-z]+|locks|database|replication(?:_slots)?|postmaster|up"
                                   r"|static)[_{ ]")
    for line in text.splitlines():
        if m := group.match(line):
            groups[m.group(1)] = groups.get(m.group(1), 0) + 1
    return groups


def run_w1(args, workdir):
    with contextlib.ExitStack() as stack:
        redis = RedisServer(workdir)
        stack.callback(redis.close)
        pg = PostgresCluster(workdir)
        stack.callback(pg.close)
        targets = Targets(3, health=True)
        stack.callback(targets.close)
        stack.callback(Workers(workdir).close)
        time.sleep(args.warmup)  # the new cluster's start-up work ends before the idle baseline
        before, start = pg.cpu_seconds(), time.monotonic()
        time.sleep(args.seconds)
        idle = {"cpu_s": pg.cpu_seconds() - before, "elapsed": time.monotonic() - start}
        vitalsd, pg_vitalsd = w1_vitalsd(args, workdir, redis, pg, targets)
        exporters, pg_exporter = w1_exporters(args, workdir, redis, pg, targets)
    total = {key: sum(row[key] for row in exporters) for key in exporters[0] if key != "name"}
    ratio = {key: vitalsd[key] / total[key] for key in ("cpu_s", "rss_mib", "peak_mib")}
    idle_rate = idle["cpu_s"] / idle["elapsed"]
    for side, count in ((pg_vitalsd, "runs"), (pg_exporter, "scrapes")):
        side["net_cpu_s"] = side["cpu_s"] - idle_rate * side["elapsed"]
        side["ms_per_" + count[:-1]] = 1000 * side["net_cpu_s"] / max(side[count], 1)
    return {"rows": [vitalsd, *exporters, dict(total, name="four exporters together")], "ratio": ratio,
            "postgres_cpu": {"idle": idle, "vitalsd": pg_vitalsd, "postgres_exporter": pg_exporter}}


def ports_vitalsd(args, workdir, targets, count):
    probes = [f"{{name: port-{i}, type: port, port: {targets.ports[i % LISTENERS]}}}" for i in range(count)]
    proc, port = start_vitalsd(args, workdir, probes)
    client, ends, timings = Scraper(port, timeout=30), [], []
    try:
        time.sleep(args.warmup)
        figures, _ = measure({"vitalsd": proc.pid, "listeners": targets.proc.pid}, args.seconds,
                             scrape_vitalsd(client, args.seconds, ends, timings))
    finally:
        client.close()
        stop_process(proc)
    (began, first), (ended, last) = ends
    runs = probe_runs(first, last)
    answered = sorted(t for t in timings if t)
    took = [t[0] for t in answered]
    return dict(figures["vitalsd"], name="vitalsd", probes_per_s=runs["checks"] / (ended - began), **runs,
                **lag_figures(first, last), scrape_p50_ms=1000 * took[len(took) // 2],
                scrape_p99_ms=1000 * took[min(len(took) - 1, int(0.99 * len(took)))], scrape_max_ms=1000 * took[-1],
                scrape_failed=len(timings) - len(answered), wire_kib=statistics.median(t[1] for t in answered) / 1024,
                body_kib=statistics.median(t[2] for t in answered) / 1024,
                helper_cpu_pct=figures["listeners"]["cpu_pct"])


def ports_blackbox(args, workdir, targets, count):
    proc, port = start_blackbox(workdir)
    driver = None
    try:
        paths = [f"/probe?module=tcp_connect&target=127.0.0.1:{p}" for p in targets.ports]
        driver = ProbeDriver(port, paths, count, args.warmup, args.seconds)
        time.sleep(max(0.0, driver.window[0] - time.monotonic()))
        figures, elapsed = measure({"blackbox": proc.pid, "listeners": targets.proc.pid}, args.seconds, lambda k: None)
        driven = driver.totals()
    finally:
        if driver:
            driver.close()
        stop_process(proc)
    return dict(figures["blackbox"], name="blackbox_exporter", probes_per_s=driven["answered"] / args.seconds,
                checks=driven["answered"], failed=driven["failed"], skipped=driven["skipped"],
                helper_cpu_pct=figures["listeners"]["cpu_pct"], driver_cpu_pct=100 * driven["cpu_s"] / elapsed,
                drivers=driven["drivers"])


def run_ports(args, workdir):
    with contextlib.ExitStack() as stack:
        targets = Targets(LISTENERS)
        stack.callback(targets.close)
        return [{"probes": n, "vitalsd": ports_vitalsd(args, workdir, targets, n),
                 "blackbox": ports_blackbox(args, workdir, targets, n)} for n in args.counts]


# Output -----------------------------------------------------------------------------------------------

def table(columns, rows):
    """columns: (header, key, width, decimals); a row lacking a key shows '-'."""
    print("  ".join(f"{h:<{w}}" if d is None else f"{h:>{w}}" for h, _, w, d in columns))
    for row in rows:
        cells = []
        for _, key, width, decimals in columns:
            value = row.get(key)
            if decimals is None or isinstance(value, str):
                cells.append(f"{value if value is not None else '-':<{width}}")
            else:
                cells.append(f"{'-' if value is None or value != value else f'{value:.{decimals}f}':>{width}}")
        print("  ".join(cells))


def print_w1(args, w1):
    print(f"\nW1: 1 Redis, 1 PostgreSQL, 3 TCP ports, 1 HTTP endpoint, 1 process group ({WORKER_NAME} x3), "
          f"all every 1 s; {args.seconds} s measured after {args.warmup} s warm-up")
    table([("contestant", "name", 30, None), ("cpu_s", "cpu_s", 7, 2), ("cpu_ms/s", "cpu_ms_per_s", 8, 2),
           ("rss_MiB", "rss_mib", 7, 1), ("peak_MiB", "peak_mib", 8, 1), ("checks", "checks", 7, 0),
           ("failed", "failed", 6, 0)], w1["rows"])
    r = w1["ratio"]
    print(f"vitalsd / exporters: CPU {r['cpu_s']:.2f}, RSS {r['rss_mib']:.2f}, peak RSS {r['peak_mib']:.2f}")
    pg = w1["postgres_cpu"]
    print(f"PostgreSQL server CPU (every process of the cluster): idle background {1000 * pg['idle']['cpu_s']:.0f} ms "
          f"over {pg['idle']['elapsed']:.0f} s, subtracted below")
    v, e = pg["vitalsd"], pg["postgres_exporter"]
    print(f"  vitalsd           {1000 * v['net_cpu_s']:7.0f} ms for {v['runs']:.0f} probe runs: "
          f"{v['ms_per_run']:.2f} ms per run")
    print(f"  postgres_exporter {1000 * e['net_cpu_s']:7.0f} ms for {e['scrapes']:.0f} scrapes:    "
          f"{e['ms_per_scrape']:.2f} ms per scrape")
    print("postgres_exporter defaults collect, pg_* series per scrape: "
          + ", ".join(f"pg_{g} {n}" for g, n in sorted(e["collects"].items(), key=lambda i: -i[1])))


def print_ports(args, results):
    print(f"\nports: N port probes at 1 s against {LISTENERS} listeners; {args.seconds} s measured after "
          f"{args.warmup} s warm-up; CPU in % of one core")
    rows = [dict(part[side], probes=part["probes"]) for part in results for side in ("vitalsd", "blackbox")]
    table([("N", "probes", 6, 0), ("contestant", "name", 17, None), ("cpu_%", "cpu_pct", 6, 1),
           ("rss_MiB", "rss_mib", 7, 1), ("peak_MiB", "peak_mib", 8, 1), ("probes/s", "probes_per_s", 8, 0),
           ("failed", "failed", 6, 0), ("skipped", "skipped", 7, 0), ("listener_cpu_%", "helper_cpu_pct", 14, 1),
           ("driver_cpu_%", "driver_cpu_pct", 12, 1), ("drivers", "drivers", 7, 0)], rows)
    print("\nvitalsd: scheduler lag and /metrics fetches (gzip asked for; KiB on the wire and decompressed)")
    table([("N", "probes", 6, 0), ("lag_p50_ms", "lag_p50_ms", 10, 2), ("p90_ms", "lag_p90_ms", 6, 2),
           ("p99_ms", "lag_p99_ms", 6, 2), (">10ms_%", "late_10ms_pct", 7, 3), (">100ms_%", "late_100ms_pct", 8, 3),
           ("scrape_p50_ms", "scrape_p50_ms", 13, 1), ("p99_ms", "scrape_p99_ms", 7, 1),
           ("max_ms", "scrape_max_ms", 7, 1), ("failed", "scrape_failed", 6, 0), ("wire_KiB", "wire_kib", 8, 0),
           ("body_KiB", "body_kib", 8, 0)], [dict(part["vitalsd"], probes=part["probes"]) for part in results])


def without_nan(value):
    """JSON has no NaN: a figure that does not apply is null."""
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nan(v) for v in value]
    return None if isinstance(value, float) and value != value else value


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=("w1", "ports", "all"), default="all")
    parser.add_argument("--vitalsd", default=os.path.join(SOURCE, "build/release/daemon/vitalsd"))
    parser.add_argument("--seconds", type=int, default=120, help="measured seconds per contestant")
    parser.add_argument("--warmup", type=int, default=5, help="seconds before measuring")
    parser.add_argument("--counts", default="1000,10000", help="port probe counts for the ports part")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    args.counts = [int(n) for n in args.counts.split(",")]
    args.vitalsd = os.path.abspath(args.vitalsd)
    return args


def main():
    args = parse_args()
    # Ctrl-C and SIGTERM unwind the run, stopping everything it started, even when the shell that
    # started us in the background told it to ignore Ctrl-C.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    results = {"vitalsd": args.vitalsd, "seconds": args.seconds, "warmup": args.warmup}
    # Every peer is looked for before anything starts, rather than when its turn comes minutes later.
    peers = ({"w1": ["prometheus-blackbox-exporter", *EXPORTERS], "ports": ["prometheus-blackbox-exporter"]}
             .get(args.part, ["prometheus-blackbox-exporter", *EXPORTERS]))
    missing = [p for p in peers if not shutil.which(p)]
    if missing:
        sys.exit(f"not installed: {' '.join(missing)} (Debian packages of the same names)")
    try:
        with tempfile.TemporaryDirectory(prefix="vitals-daemon-bench-") as workdir:
            if args.part in ("w1", "all"):
                results["w1"] = run_w1(args, workdir)
                print_w1(args, results["w1"])
            if args.part in ("ports", "all"):
                results["ports"] = run_ports(args, workdir)
                print_ports(args, results["ports"])
    except KeyboardInterrupt:
        sys.exit("interrupted: every server and child this run started has been stopped")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(without_nan(results), f, indent=2)


if __name__ == "__main__":
    main()
