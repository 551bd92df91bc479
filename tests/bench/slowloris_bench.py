#!/usr/bin/env python3
"""Benchmark, not a test: can Prometheus still scrape vitalsd under a slowloris flood?

Starts vitalsd on loopback (ten port probes, so /metrics has some body), then
runs, in a child process, CLIENTS slowloris connections that each send one
byte of a never-ending request header per second and reconnect at once
when the server cuts them. Meanwhile a normal client fetches /metrics every
100 ms on a new connection with a 1 s timeout, as a scraper would. After a
2 s warm-up it measures for SECONDS and prints the share of fetches answered
within 1 s, their latency p50/p99/max, how the failures failed, how often the
attack was cut, and the daemon's own count of dropped connections.

Usage: slowloris_bench.py [VITALSD=build/release/daemon/vitalsd] [SECONDS=60] [CLIENTS=200]
"""

import multiprocessing
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from bench_proc import cpu_seconds, free_port

HEADER = b"GET /metrics HTTP/1.1\r\nHost: vitals\r\nX-Slow: " + b"x" * 8000  # never finished at 1 byte/s


def fetch(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def attack(address, clients, stop, opened, cut):
    """CLIENTS connections, one header byte each per second, staggered across
    the second; a connection the server closes is replaced at once."""
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> [next send time, bytes sent]

    def connect(due):
        try:
            s = socket.create_connection(address, timeout=1)
        except OSError:
            return
        s.setblocking(False)
        conns[s] = [due, 0]
        sel.register(s, selectors.EVENT_READ)
        opened.value += 1

    def drop(s):
        sel.unregister(s)
        del conns[s]
        s.close()
        cut.value += 1

    start = time.monotonic()
    for i in range(clients):
        connect(start + i / clients)
    while not stop.is_set():
        # The server closing a connection makes it readable (EOF or reset).
        for key, _ in sel.select(timeout=0.005):
            try:
                closed = key.fileobj.recv(4096) == b""
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            if closed:
                drop(key.fileobj)
        now = time.monotonic()
        for s, state in list(conns.items()):
            if now < state[0]:
                continue
            try:
                s.send(HEADER[state[1] % len(HEADER):][:1])
                state[0] += 1.0
                state[1] += 1
            except OSError:
                drop(s)
        while len(conns) < clients and not stop.is_set():
            connect(time.monotonic() + 1.0)


def start_vitalsd(vitalsd, workdir, target_port):
    port = free_port()
    probes = "".join(f"  - {{name: port-{i}, type: port, port: {target_port}, interval: 1s, timeout: 500ms}}\n" for i in range(10))
    path = os.path.join(workdir, "vitals.yaml")
    with open(path, "w") as f:
        f.write(f"server: {{listen: 127.0.0.1:{port}}}\nlog: {{level: warn}}\n"
                f"state: {{path: {workdir}/state.db}}\nprobes:\n{probes}")
    log = open(os.path.join(workdir, "vitalsd.log"), "w")
    proc = subprocess.Popen([vitalsd, "run", "-c", path], stderr=log)
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            fetch(url, 1)
            return proc, ("127.0.0.1", port), url, log
        except OSError:
            time.sleep(0.05)
    proc.kill()
    log.close()
    with open(log.name) as f:
        sys.exit("vitalsd did not answer within 30 s:\n" + f.read())


def scrape_loop(url, seconds):
    """One fetch every 100 ms for `seconds`: (latencies of answered fetches, failures by kind)."""
    latencies, failures = [], {}
    start = time.monotonic()
    tick = 0
    while (due := start + tick * 0.1) < start + seconds:
        tick += 1
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        began = time.monotonic()
        try:
            fetch(url, 1.0)
            latencies.append(time.monotonic() - began)
        except (OSError, urllib.error.URLError) as e:
            kind = type(getattr(e, "reason", e)).__name__
            failures[kind] = failures.get(kind, 0) + 1
    return latencies, failures


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def dropped(metrics_text):
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'^vitals_http_connections_dropped_total\{reason="(\w+)"\} (\S+)$', metrics_text, re.M)}


def main():
    vitalsd = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/release/daemon/vitalsd")
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    target = socket.socket()
    target.bind(("127.0.0.1", 0))
    target.listen(64)
    with tempfile.TemporaryDirectory(prefix="vitals-bench-") as workdir:
        proc, address, url, log = start_vitalsd(vitalsd, workdir, target.getsockname()[1])
        stop = multiprocessing.Event()
        opened, cut = multiprocessing.Value("l", 0), multiprocessing.Value("l", 0)
        attacker = multiprocessing.Process(target=attack, args=(address, clients, stop, opened, cut), daemon=True)
        try:
            attacker.start()
            time.sleep(2)  # warm-up: every slowloris connection is open and trickling
            cut0, cpu0 = cut.value, cpu_seconds(proc.pid)
            latencies, failures = scrape_loop(url, seconds)
            cpu = cpu_seconds(proc.pid) - cpu0
            cuts = cut.value - cut0
            stop.set()
            attacker.join(timeout=10)
            try:
                drops = dropped(fetch(url, 5))
            except OSError:
                drops = {}
        finally:
            stop.set()
            proc.terminate()
            proc.wait()
            log.close()

    total = len(latencies) + sum(failures.values())
    latencies.sort()
    print(f"vitalsd {vitalsd}")
    print(f"{clients} slowloris clients (1 byte/s each, reconnecting when cut), /metrics every 100 ms, "
          f"1 s timeout, {seconds} s measured")
    print(f"fetches {total}, answered within 1 s {len(latencies)} ({100 * len(latencies) / max(total, 1):.2f}%)")
    print(f"latency p50 {1000 * percentile(latencies, 0.50):.2f} ms, p99 {1000 * percentile(latencies, 0.99):.2f} ms, "
          f"max {1000 * (latencies[-1] if latencies else float('nan')):.2f} ms")
    print("failures " + (", ".join(f"{k} {v}" for k, v in sorted(failures.items())) or "none"))
    print(f"slowloris connections opened {opened.value}, cut by the server while measured {cuts} "
          f"({cuts / seconds:.1f}/s)")
    print("daemon dropped " + (", ".join(f"{k} {v:.0f}" for k, v in sorted(drops.items())) or "(no such series)"))
    print(f"daemon CPU {100 * cpu / seconds:.1f}% of one core")


if __name__ == "__main__":
    main()
