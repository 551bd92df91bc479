#!/usr/bin/env python3
"""The log probe next to mtail on the same file and the same patterns.

    tests/bench/log_bench.py --vitalsd build/bench/daemon/vitalsd [--lines 2000000] [--repeat 3]

Two cases, each a file written once into a temporary directory:

  plain  text lines as runbooks grep them, three regex patterns
         (ERROR, SQLITE_BUSY: database is locked, ECONNREFUSED|EMFILE|ETIMEDOUT)
  json   pino-style JSON lines, two field conditions
         (level >= 50; err.code == ECONNREFUSED)

Each tool reads the whole file once from its start and exits: `vitalsd
check` with one log probe (`from: beginning`, a read budget larger than the
file) and `mtail --one_shot` with the equivalent program (mtail cannot read
JSON fields: its program matches the JSON text with regexes, as mtail users
write it). For each run: CPU seconds (user + system, every thread), lines per
CPU second (lines/s per core), peak RSS, wall time. The counts of both tools
are checked against what was written, so neither wins by skipping lines.

`--mode follow` measures what following a growing file costs instead: both
run as daemons (`vitalsd run`, one log probe at a 1 s interval; `mtail`
tailing the file), a writer appends `--rate` lines a second for
`--seconds`, and once both have counted every line the CPU each spent
meanwhile (from /proc/<pid>/stat) and its RSS are printed.
"""

import argparse
import json
import socket
import urllib.request
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time

MTAIL_PLAIN = """\
counter log_matches_total by pattern
/ERROR/ {
  log_matches_total["error"]++
}
/SQLITE_BUSY: database is locked/ {
  log_matches_total["busy"]++
}
/ECONNREFUSED|EMFILE|ETIMEDOUT/ {
  log_matches_total["refused"]++
}
"""

MTAIL_JSON = """\
counter log_matches_total by pattern
/"level":(?P<level>\\d+)/ {
  $level >= 50 {
    log_matches_total["error"]++
  }
}
/"err":\\{"code":"ECONNREFUSED"/ {
  log_matches_total["refused"]++
}
"""

VITALS_PLAIN = """\
      - {name: error, regex: 'ERROR'}
      - {name: busy, regex: 'SQLITE_BUSY: database is locked'}
      - {name: refused, regex: 'ECONNREFUSED|EMFILE|ETIMEDOUT'}
"""

VITALS_JSON = """\
      - {name: error, json: {level: {gte: 50}}}
      - {name: refused, json: {err.code: ECONNREFUSED}}
"""


def write_plain(path, n, rng):
    """Lines like an app's: mostly requests, some of the errors the runbooks name."""
    expected = {"error": 0, "busy": 0, "refused": 0}
    with open(path, "w") as f:
        for i in range(n):
            ts = f"2024-05-01T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
            r = rng.random()
            if r < 0.02:
                line = f"{ts} ERROR db write failed: SQLITE_BUSY: database is locked (req {i})"
                expected["error"] += 1
                expected["busy"] += 1
            elif r < 0.04:
                line = f"{ts} ERROR connect ECONNREFUSED 127.0.0.1:5432 pool=main attempt={i % 5}"
                expected["error"] += 1
                expected["refused"] += 1
            elif r < 0.05:
                line = f"{ts} WARN upstream slow ETIMEDOUT after 3000ms route=/api/v1/orders"
                expected["refused"] += 1
            else:
                line = (f"{ts} INFO GET /api/v1/orders/{i % 9973} 200 {rng.randint(1, 400)}ms "
                        f"user={i % 131} agent=Mozilla/5.0")
            f.write(line + "\n")
    return expected


def write_json(path, n, rng):
    """pino's shape: numeric levels, nested err."""
    expected = {"error": 0, "refused": 0}
    with open(path, "w") as f:
        for i in range(n):
            r = rng.random()
            entry = {"level": 30, "time": 1714557600000 + i, "pid": 4242, "hostname": "api-1"}
            if r < 0.02:
                entry.update(level=50, msg="connect failed", err={"code": "ECONNREFUSED", "errno": -111})
                expected["error"] += 1
                expected["refused"] += 1
            elif r < 0.04:
                entry.update(level=50, msg="write failed", err={"code": "SQLITE_BUSY", "message": "database is locked"})
                expected["error"] += 1
            elif r < 0.05:
                entry.update(level=40, msg="retrying", err={"code": "ECONNREFUSED"})
                expected["refused"] += 1
            else:
                entry.update(req={"method": "GET", "url": f"/api/v1/orders/{i % 9973}"},
                             responseTime=rng.randint(1, 400), msg="request completed")
            f.write(json.dumps(entry, separators=(",", ":")) + "\n")
    return expected


def measure(argv):
    """Runs argv to its end; (output, cpu seconds, peak RSS MiB, wall seconds).

    The peak is the child's VmHWM, read while it runs: the ru_maxrss that
    wait4 reports starts from this script's own size at fork time."""
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
        peak = 0.0
        while True:
            peak = max(peak, proc_status_mib(p.pid, "VmHWM:"))
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid != 0:
                break
            time.sleep(0.005)
        wall = time.monotonic() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if p.returncode not in (0, 1):
        sys.exit(f"{argv[0]} failed ({p.returncode}):\n{text[-2000:]}")
    return text, usage.ru_utime + usage.ru_stime, peak, wall


def run_mtail(work, case, log, expected):
    progs = os.path.join(work, f"mtail-{case}")
    os.makedirs(progs, exist_ok=True)
    with open(os.path.join(progs, f"{case}.mtail"), "w") as f:
        f.write(MTAIL_PLAIN if case == "plain" else MTAIL_JSON)
    out, cpu, rss, wall = measure(["mtail", "--progs", progs, "--logs", log, "--one_shot",
                                   "--one_shot_format", "prometheus", "--logtostderr"])
    for name, n in expected.items():
        m = re.search(r'log_matches_total\{pattern="%s",prog="[^"]*"\} (\d+)' % name, out)
        if not m or int(m.group(1)) != n:
            sys.exit(f"mtail counted {m.group(1) if m else 'nothing'} for {name}, expected {n}:\n{out[-2000:]}")
    return cpu, rss, wall


def run_vitalsd(vitalsd, work, case, log, expected, lines):
    config = os.path.join(work, f"vitals-{case}.yaml")
    with open(config, "w") as f:
        f.write(f"""\
state: {{path: {work}/state.db}}
probes:
  - name: bench
    type: log
    path: {log}
    from: beginning
    max_read_per_run: 64GiB
    interval: 10m
    timeout: 9m
    patterns:
{VITALS_PLAIN if case == "plain" else VITALS_JSON}""")
    out, cpu, rss, wall = measure([vitalsd, "check", "-c", config])
    for name, n in expected.items():
        if not re.search(r"\b%s: %d match(es)? in this run" % (name, n), out):
            sys.exit(f"vitalsd did not count {n} {name} lines:\n{out[-2000:]}")
    if not re.search(r"read: %d lines \(" % lines, out):
        sys.exit(f"vitalsd did not read {lines} lines:\n{out[-2000:]}")
    return cpu, rss, wall


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_mib(pid, field):
    """A memory line of /proc/<pid>/status (VmRSS:, VmHWM:) in MiB; 0 once gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def scrape(port, pattern):
    """The series' value; 0 while absent; None while /metrics does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(pattern, text)
    return float(m.group(1)) if m else 0.0


def wait_until(predicate, limit, what):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def follow(vitalsd, work, case, source, lines, rate, seconds):
    """Both tools as daemons following one file a writer appends to."""
    with open(source) as f:
        all_lines = f.readlines()
    log = os.path.join(work, f"follow-{case}.log")
    open(log, "w").close()
    progs = os.path.join(work, f"mtail-{case}")
    mtail_port, vitals_port = free_port(), free_port()
    config = os.path.join(work, f"follow-{case}.yaml")
    with open(config, "w") as f:
        f.write(f"""\
server: {{listen: 127.0.0.1:{vitals_port}}}
state: {{path: {work}/state-follow.db}}
probes:
  - name: bench
    type: log
    path: {log}
    interval: 1s
    timeout: 900ms
    patterns:
{VITALS_PLAIN if case == "plain" else VITALS_JSON}""")
    tools = {
        "mtail": subprocess.Popen(["mtail", "--progs", progs, "--logs", log, "--port", str(mtail_port),
                                   "--address", "127.0.0.1", "--logtostderr"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "vitalsd": subprocess.Popen([vitalsd, "run", "-c", config], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL),
    }
    counted = {
        "mtail": lambda: scrape(mtail_port, r'mtail_log_lines_total\{logfile="[^"]*"\} (\S+)'),
        "vitalsd": lambda: scrape(vitals_port, r'vitals_log_lines_total\{probe="bench"\} (\S+)'),
    }
    try:
        wait_until(lambda: all(counted[t]() is not None for t in tools), 30, "both tools to serve /metrics")
        time.sleep(2)  # the probe's first run has taken the end of the file
        cpu0 = {t: proc_cpu(p.pid) for t, p in tools.items()}
        written = 0
        start = time.monotonic()
        with open(log, "a") as f:
            while written < rate * seconds:
                due = int((time.monotonic() - start) * rate)
                batch = min(due, rate * seconds) - written
                if batch > 0:
                    f.write("".join(all_lines[(written + i) % len(all_lines)] for i in range(batch)))
                    f.flush()
                    written += batch
                time.sleep(0.01)
        wait_until(lambda: all((counted[t]() or 0) >= written for t in tools), 120, "both tools to count every line")
        for tool, p in tools.items():
            cpu = proc_cpu(p.pid) - cpu0[tool]
            peak = proc_status_mib(p.pid, "VmHWM:")
            print(f"{case:6} {tool:7} {written:>9} {'-':>6} {cpu:>7.2f} {written / cpu:>13,.0f} {peak:>8.1f} "
                  f"{'-':>7}  (follow: {rate} lines/s for {seconds}s)", flush=True)
    finally:
        for p in tools.values():
            p.terminate()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vitalsd", required=True)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", choices=("oneshot", "follow", "both"), default="both")
    ap.add_argument("--rate", type=int, default=50_000, help="follow: lines appended per second")
    ap.add_argument("--seconds", type=int, default=20, help="follow: how long the writer writes")
    args = ap.parse_args()
    rng = random.Random(17)
    with tempfile.TemporaryDirectory(prefix="vitals-log-bench-") as work:
        print(f"{'case':6} {'tool':7} {'lines':>9} {'MiB':>6} {'cpu_s':>7} {'lines/s/core':>13} {'peak_MiB':>8} "
              f"{'wall_s':>7}")
        for case, write in (("plain", write_plain), ("json", write_json)):
            log = os.path.join(work, f"{case}.log")
            expected = write(log, args.lines, rng)
            size = os.path.getsize(log) / 2**20
            for tool in ("mtail", "vitalsd") if args.mode != "follow" else ():
                for _ in range(args.repeat):
                    if tool == "mtail":
                        cpu, rss, wall = run_mtail(work, case, log, expected)
                    else:
                        cpu, rss, wall = run_vitalsd(args.vitalsd, work, case, log, expected, args.lines)
                    print(f"{case:6} {tool:7} {args.lines:>9} {size:>6.0f} {cpu:>7.2f} {args.lines / cpu:>13,.0f} "
                          f"{rss:>8.1f} {wall:>7.2f}", flush=True)
            if args.mode != "oneshot":
                os.makedirs(os.path.join(work, f"mtail-{case}"), exist_ok=True)
                with open(os.path.join(work, f"mtail-{case}", f"{case}.mtail"), "w") as f:
                    f.write(MTAIL_PLAIN if case == "plain" else MTAIL_JSON)
                follow(args.vitalsd, work, case, log, args.lines, args.rate, args.seconds)


if __name__ == "__main__":
    main()
