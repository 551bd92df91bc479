#!/usr/bin/env python3
"""What TLS and basic auth cost a scrape, for vitalsd and for Prometheus's own
/metrics behind the same web config (exporter-toolkit, Go's crypto/tls).

    tests/bench/tls_scrape_bench.py build/release/daemon/vitalsd [scrapes=2000]

Each server runs the packaged dev-host config (config/vitals.yaml) in turn:
plain HTTP, then TLS with a bcrypt (cost 10) user. For each it prints, from
the server's own CPU time (/proc/PID/stat) and the client's clock:

  keep-alive   scrapes over one connection: the steady state of a Prometheus
               scrape (credentials cached after the first)
  new-conn     a new connection (TCP, and the TLS handshake) for each scrape

Nothing is asserted; figures go to docs/performance.md.
"""

import base64
import crypt
import http.client
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

from bench_proc import cpu_seconds, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
PASSWORD = "bench password"


def make_pki(d):
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key")
    run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=bench CA", "-days", "2", "-out", "ca.crt")
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "server.key")
    run("req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "server.crt")


def web_config(d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))
    path = os.path.join(d, "web.yml")
    with open(path, "w") as f:
        f.write(f"tls_server_config:\n  cert_file: {d}/server.crt\n  key_file: {d}/server.key\n"
                f"basic_auth_users:\n  bench: {hashed}\n")
    return path


def wait_listening(port, proc):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not listen")


def measure(pid, port, tls_ctx, path, scrapes, keep_alive):
    headers = {}
    if tls_ctx:
        headers["Authorization"] = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()

    def connect():
        if tls_ctx:
            return http.client.HTTPSConnection("127.0.0.1", port, context=tls_ctx, timeout=10)
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def scrape(conn):
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body[:200])
        return len(body)

    conn = connect()
    scrape(conn)  # warm: the first verification runs bcrypt; later ones hit the cache
    latencies = []
    size = 0
    before = cpu_seconds(pid)
    for _ in range(scrapes):
        if not keep_alive:
            conn.close()
            conn = connect()
        t = time.perf_counter()
        size = scrape(conn)
        latencies.append(time.perf_counter() - t)
    cpu = cpu_seconds(pid) - before
    conn.close()
    latencies.sort()
    return {"cpu_us": cpu / scrapes * 1e6, "p50_ms": statistics.median(latencies) * 1e3,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3, "size": size}


def run_vitalsd(binary, work, web):
    port = free_port()
    config = os.path.join(work, "vitals.yaml")
    with open(os.path.join(SOURCE, "config", "vitals.yaml")) as f:
        text = f.read().replace("127.0.0.1:9273", f"127.0.0.1:{port}").replace("port: 9273", f"port: {port}")
    text = text.replace("/var/lib/vitals/state.db", os.path.join(work, "state.db"))
    with open(config, "w") as f:
        f.write(text)
    args = [binary, "run", "-c", config] + (["--web.config.file", web] if web else [])
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc)
    time.sleep(1)  # every probe has run once: /metrics has its steady size
    return proc, port


def run_prometheus(work, web):
    binary = shutil.which("prometheus")
    if not binary:
        return None, None
    port = free_port()
    cfg = os.path.join(work, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global: {scrape_interval: 1h}\nscrape_configs: []\n")
    args = [binary, f"--config.file={cfg}", f"--storage.tsdb.path={work}/tsdb-{port}",
            f"--web.listen-address=127.0.0.1:{port}"] + ([f"--web.config.file={web}"] if web else [])
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc)
    time.sleep(2)
    return proc, port


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    binary = sys.argv[1]
    scrapes = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    work = tempfile.mkdtemp(prefix="vitals-tls-bench-")
    try:
        make_pki(work)
        web = web_config(work)
        tls_ctx = ssl.create_default_context(cafile=os.path.join(work, "ca.crt"))
        print(f"{'server':<12} {'mode':<10} {'transport':<16} {'cpu_us/scrape':>14} {'p50_ms':>8} {'p99_ms':>8} "
              f"{'bytes':>7}")
        for name, start in (("vitalsd", lambda w: run_vitalsd(binary, work, w)),
                            ("prometheus", lambda w: run_prometheus(work, w))):
            for transport, w, ctx in (("http", None, None), ("https+basic", web, tls_ctx)):
                proc, port = start(w)
                if proc is None:
                    print(f"{name}: not installed")
                    break
                try:
                    for mode, keep in (("keep-alive", True), ("new-conn", False)):
                        n = scrapes if keep else max(scrapes // 4, 50)
                        r = measure(proc.pid, port, ctx, "/metrics", n, keep)
                        print(f"{name:<12} {mode:<10} {transport:<16} {r['cpu_us']:>14.0f} {r['p50_ms']:>8.2f} "
                              f"{r['p99_ms']:>8.2f} {r['size']:>7}")
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
