"""What the daemon benchmark probes, and the load it puts on blackbox_exporter.

Targets serves TCP listeners and a /health endpoint from one child process, and Workers is a group
of sleeping processes with a name of their own; being other processes, their CPU is nobody's.
ProbeDriver asks blackbox_exporter for probes at a fixed rate spread evenly over each second,
over kept-alive connections, as Prometheus scraping that many targets would.
"""

import collections
import http.server
import multiprocessing
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
import zlib

WORKER_NAME = "vbench-worker"  # the process group's comm: short (<= 15 bytes) and found nowhere else
RATE_PER_DRIVER = 5000  # probe requests per second one Python driver process sends with CPU to spare
IN_FLIGHT_SECONDS = 0.1  # each driver keeps enough connections for this much of its rate to await answers
MAX_LATE = 1.0  # seconds a request may wait for a free connection before it is skipped


class HealthHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        found = self.path == "/health"
        body = b'{"status":"ok"}' if found else b"not found"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # a line per probe would cost more than the answer


def serve_targets(listeners, health_server):
    """The child's loop: every connection to a listener is accepted and closed at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if health_server:
        threading.Thread(target=health_server.serve_forever, daemon=True).start()
    selector = selectors.DefaultSelector()
    for listener in listeners:
        listener.setblocking(False)
        selector.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            while True:
                try:
                    conn, _ = key.fileobj.accept()
                except BlockingIOError:
                    break
                conn.close()


class Targets:
    """`port_count` loopback listeners, and with `health` an HTTP server answering GET /health."""

    def __init__(self, port_count, health=False):
        listeners = []
        for _ in range(port_count):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(4096)  # 10,000 connections a second must not overflow the queue
            listeners.append(listener)
        self.ports = [s.getsockname()[1] for s in listeners]
        health_server = None
        if health:
            health_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HealthHandler)
            health_server.daemon_threads = True
            self.health_port = health_server.server_address[1]
        self.proc = multiprocessing.Process(target=serve_targets, args=(listeners, health_server), daemon=True)
        self.proc.start()
        for listener in listeners:  # the child holds them now
            listener.close()
        if health_server:
            health_server.server_close()

    def close(self):
        self.proc.terminate()
        self.proc.join()


class Workers:
    """`count` sleeping processes named WORKER_NAME: a copy of sleep(1) under that name."""

    def __init__(self, workdir, count=3):
        path = os.path.join(workdir, WORKER_NAME)
        shutil.copy("/bin/sleep", path)
        self.procs = []
        try:
            for _ in range(count):
                self.procs.append(subprocess.Popen([path, "1000000"], start_new_session=True))
        except BaseException:
            self.close()
            raise

    def close(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def parse_response(buf):
    """(length, status, body, gzipped) of the first whole HTTP response in `buf`, or None if incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).decode("latin-1").lower()
    status, gzipped = int(head[9:12]), "\r\ncontent-encoding: gzip" in head
    length = re.search(r"\r\ncontent-length: *(\d+)", head)
    if length:
        total = end + 4 + int(length.group(1))
        return (total, status, bytes(buf[end + 4:total]), gzipped) if len(buf) >= total else None
    pos, chunks = end + 4, []  # chunked: size line, data, CRLF; a zero size ends it (no trailers)
    while (eol := buf.find(b"\r\n", pos)) >= 0:
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            return (eol + 4, status, b"".join(chunks), gzipped) if len(buf) >= eol + 4 else None
        if len(buf) < eol + 2 + size + 2:
            return None
        chunks.append(bytes(buf[eol + 2:eol + 2 + size]))
        pos = eol + 2 + size + 2
    return None


def probe_succeeded(response):
    _, status, body, gzipped = response
    return status == 200 and b"\nprobe_success 1\n" in b"\n" + (zlib.decompress(body, 31) if gzipped else body)


def connect(selector, port):
    conn = socket.create_connection(("127.0.0.1", port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.setblocking(False)
    selector.register(conn, selectors.EVENT_READ, bytearray())
    return conn


def drive(port, paths, rate, drivers, index, start, window, results):
    """Runs one driver (see drive_one) and reports its totals, or why it stopped, to `results`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        results.put(drive_one(port, paths, rate, drivers, index, start, window))
    except Exception as e:  # reported, so the parent does not wait for totals that never come
        results.put({"error": f"driver {index}: {e!r}"})


def read_response(conn, buf):
    """(the response now complete in `buf`, or None; whether the server closed the connection)."""
    try:
        data = conn.recv(65536)
    except ConnectionError:
        data = b""
    if not data:
        return None, True
    buf.extend(data)
    response = parse_response(buf)
    if response:
        del buf[:response[0]]
    return response, False


def drive_one(port, paths, rate, drivers, index, start, window):
    """Driver `index` of `drivers`: request g = k * drivers + index is due at start + g / rate and goes out
    on the connection idle longest. While every connection awaits an answer it waits; once MAX_LATE
    overdue it is skipped, as Prometheus skips a scrape while the last one is still running. Of the
    requests due within `window` it counts those answered, failed (no `probe_success 1`, the connection
    closed instead, or no answer MAX_LATE after the window) and skipped, and its own CPU over the window."""
    selector = selectors.DefaultSelector()
    idle = collections.deque(connect(selector, port) for _ in range(max(32, int(rate / drivers * IN_FLIGHT_SECONDS))))
    requests = [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Encoding: gzip\r\n"
                f"X-Prometheus-Scrape-Timeout-Seconds: 1\r\n\r\n".encode() for path in paths]
    awaiting = {}  # connection -> when the request it awaits an answer to was due
    counts, cpu, k = {"answered": 0, "failed": 0, "skipped": 0}, [], 0
    while (now := time.monotonic()) < window[1] + MAX_LATE and (now < window[1] or awaiting):
        if len(cpu) < 2 and now >= window[len(cpu)]:
            cpu.append(sum(os.times()[:2]))
        due = start + (k * drivers + index) / rate
        while due <= now and due < window[1] and (idle or now - due > MAX_LATE):
            if now - due > MAX_LATE:
                counts["skipped"] += due >= window[0]
            else:
                conn = idle.popleft()
                conn.send(requests[(k * drivers + index) % len(requests)])  # < 200 bytes: never partial
                awaiting[conn] = due
            k += 1
            due = start + (k * drivers + index) / rate
        wake = [window[1] + MAX_LATE, *window[len(cpu):2]]  # the end, and where the CPU is still to be read
        if due < window[1]:
            wake.append(due if idle else due + MAX_LATE)  # the next request to send, or to skip
        for key, _ in selector.select(max(0.0, min(wake) - now)):
            response, closed = read_response(key.fileobj, key.data)
            if not response and not closed:
                continue
            conn, due = key.fileobj, awaiting.pop(key.fileobj, None)
            if due is None:
                idle.remove(conn)  # closed while idle
            elif window[0] <= due < window[1]:
                counts["answered"] += 1
                counts["failed"] += not (response and probe_succeeded(response))
            if closed:
                selector.unregister(conn)
                conn.close()
                conn = connect(selector, port)
            idle.append(conn)
    counts["failed"] += sum(window[0] <= due < window[1] for due in awaiting.values())
    cpu.append(sum(os.times()[:2]))  # the loop may end at the window's end with nothing awaited
    return dict(counts, cpu_s=cpu[1] - cpu[0])


class ProbeDriver:
    """Requests `rate` probes a second from blackbox_exporter on `port`, cycling through `paths`, for
    warmup + seconds from about a second from now (time for every driver to connect). Drivers are
    added at RATE_PER_DRIVER each, so the load is not limited by one Python process."""

    def __init__(self, port, paths, rate, warmup, seconds):
        self.drivers = -(-rate // RATE_PER_DRIVER)
        start = time.monotonic() + 1.0
        self.window = (start + warmup, start + warmup + seconds)  # the measured part
        self.results = multiprocessing.Queue()
        self.procs = [multiprocessing.Process(target=drive, daemon=True, args=(
            port, paths, rate, self.drivers, i, start, self.window, self.results)) for i in range(self.drivers)]
        for proc in self.procs:
            proc.start()

    def totals(self):
        """The drivers' totals over the measured window, once they have ended."""
        parts = [self.results.get(timeout=30) for _ in self.procs]
        if errors := [part["error"] for part in parts if "error" in part]:
            raise SystemExit("the blackbox_exporter load driver failed: " + "; ".join(errors))
        return dict({key: sum(part[key] for part in parts) for key in parts[0]}, drivers=self.drivers)

    def close(self):
        for proc in self.procs:
            proc.terminate()
            proc.join()
