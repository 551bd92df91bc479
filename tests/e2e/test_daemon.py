"""vitalsd as a user runs it: real sockets, real processes, real signals."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import unittest

from vitals_harness import Daemon, comm_of, free_port, listener, sample, wait_for, VITALSD


def config(*probes, lifecycle=True):
    body = "\n".join(textwrap.indent(textwrap.dedent(p).strip(), "  ") for p in probes)
    return textwrap.dedent(f"""\
        server:
          listen: 127.0.0.1:0
          enable_lifecycle: {"true" if lifecycle else "false"}
        log: {{level: info, format: text}}
        defaults: {{interval: 500ms, timeout: 300ms}}
        probes:
        """) + body + "\n"


class DaemonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # An open port owned by this test, a closed one, one owned by another
        # process (a python child) and one that hangs (a full accept queue).
        cls.open_sock = listener()
        cls.closed_port = free_port()
        cls.child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent("""\
                import socket, sys
                s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
                print(s.getsockname()[1], flush=True)
                sys.stdin.read()
                """)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        cls.child_port = int(cls.child.stdout.readline())
        cls.child_comm = comm_of(cls.child.pid)
        # listen(0) and two connections never accepted: the next SYN is dropped,
        # so a connect hangs the way a firewalled or wedged service does.
        cls.full_sock = listener(backlog=0)
        cls.fillers = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(cls.full_sock.getsockname())
            cls.fillers.append(s)

        cls.probes = dict(
            open=f"- {{name: open-port, type: port, port: {cls.open_sock.getsockname()[1]}}}",
            closed=f"- {{name: closed-port, type: port, port: {cls.closed_port}}}",
            foreign=f"- {{name: wrong-owner, type: port, port: {cls.child_port}, expect_process: node}}",
            hanging=f"- {{name: hanging, type: port, port: {cls.full_sock.getsockname()[1]}, interval: 400ms, timeout: 200ms}}",
        )

    @classmethod
    def tearDownClass(cls):
        cls.child.stdin.close()
        cls.child.wait()
        for s in [cls.open_sock, cls.full_sock] + cls.fillers:
            s.close()

    def start(self, *names):
        d = Daemon(config(*(self.probes[n] for n in names)))
        self.addCleanup(d.stop)
        return d

    def wait_all_ran(self, d, names):
        def ran():
            status, body = d.get("/api/v1/probes")
            probes = {p["name"]: p for p in json.loads(body)["probes"]}
            return probes if all(probes.get(n, {}).get("last") for n in names) else None
        return wait_for(ran, what=f"first runs of {names}")

    def test_open_closed_and_foreign_ports_show_state_owner_and_cause(self):
        d = self.start("open", "closed", "foreign")
        probes = self.wait_all_ran(d, ["open-port", "closed-port", "wrong-owner"])
        m = d.metrics()
        self.assertEqual(sample(m, "vitals_probe_success", probe="open-port"), 1)
        self.assertEqual(sample(m, "vitals_probe_success", probe="closed-port"), 0)
        self.assertEqual(sample(m, "vitals_probe_success", probe="wrong-owner"), 0)
        self.assertEqual(sample(m, "vitals_port_owner_info", probe="open-port", pid=os.getpid()), 1)
        self.assertEqual(sample(m, "vitals_port_owner_info", probe="wrong-owner", pid=self.child.pid,
                                process=self.child_comm), 1)
        self.assertEqual(sample(m, "vitals_port_conflict", probe="wrong-owner", port=self.child_port), 1)
        self.assertEqual(sample(m, "vitals_port_open", probe="closed-port", port=self.closed_port), 0)

        closed = probes["closed-port"]["last"]
        self.assertEqual(closed["reason"], "refused")
        self.assertIn("connection refused", closed["error"])
        foreign = probes["wrong-owner"]["last"]
        self.assertEqual(foreign["reason"], "conflict")
        self.assertIn(f"owned by {self.child_comm} (pid {self.child.pid}), expected node", foreign["error"])

    def test_promtool_accepts_the_real_exposition(self):
        d = self.start("open", "closed", "foreign", "hanging")
        self.wait_all_ran(d, ["open-port", "closed-port", "wrong-owner", "hanging"])
        text = d.metrics()
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is required")
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for name in ["vitals_probe_success", "vitals_probe_up", "vitals_probe_duration_seconds_bucket",
                     "vitals_probe_runs_total", "vitals_probe_last_run_timestamp_seconds", "vitals_build_info",
                     "vitals_config_last_reload_successful", "vitals_scheduler_lag_seconds_bucket",
                     "process_resident_memory_bytes", "vitals_port_open"]:
            self.assertIn(name, text)

    def test_a_scraper_asking_for_gzip_gets_it_and_reads_the_same_exposition(self):
        d = self.start("open", "closed")
        self.wait_all_ran(d, ["open-port", "closed-port"])
        r = subprocess.run(["curl", "-sS", "--compressed", "-D", "-", d.base + "/metrics"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition("\n\n")
        self.assertRegex(head, r"(?im)^content-encoding: gzip$")
        self.assertRegex(head, r"(?im)^vary: accept-encoding$")
        check = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=body, capture_output=True,
                               text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn('vitals_probe_up{kind="port",probe="open-port"} 1', body)
        # A client that does not ask gets plain text.
        self.assertIn('vitals_probe_up{kind="port",probe="closed-port"} 0', d.metrics())

    def test_a_large_exposition_is_gzipped_on_the_pool_as_one_valid_stream(self):
        # Over 32 probes the exposition is written and deflated on the pool
        # in pieces: gzip itself must read it as one valid member (checksum
        # and length included), and promtool must accept what it holds.
        # A listener of its own that accepts everything: 120 probes would
        # soon fill the shared one's accept queue.
        busy = listener(backlog=512)
        self.addCleanup(busy.close)

        def accept_all():
            while True:
                try:
                    busy.accept()[0].close()
                except OSError:
                    return
        threading.Thread(target=accept_all, daemon=True).start()
        port = busy.getsockname()[1]
        many = [f"- {{name: open-{i:03}, type: port, port: {port}}}" for i in range(120)]
        d = Daemon(config(*many))
        self.addCleanup(d.stop)
        self.wait_all_ran(d, [f"open-{i:03}" for i in range(120)])
        raw = subprocess.run(["curl", "-sS", "-H", "Accept-Encoding: gzip", d.base + "/metrics"],
                             capture_output=True, timeout=20)
        self.assertEqual(raw.returncode, 0, raw.stderr)
        test = subprocess.run(["gzip", "-t"], input=raw.stdout, capture_output=True, timeout=20)
        self.assertEqual(test.returncode, 0, test.stderr)
        body = subprocess.run(["gzip", "-dc"], input=raw.stdout, capture_output=True, timeout=20, check=True).stdout
        check = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=body, capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        text = body.decode()
        for i in range(120):
            self.assertIn(f'vitals_probe_up{{kind="port",probe="open-{i:03}"}} 1\n', text)
        self.assertEqual(text.count("# TYPE vitals_probe_duration_seconds histogram\n"), 1)
        # Without gzip: the same families, each once.
        plain = d.metrics()
        self.assertEqual(plain.count("# TYPE vitals_probe_up gauge\n"), 1)
        self.assertEqual(len(re.findall(r"^vitals_probe_runs_total\{", plain, re.M)), 4 * 120)

    def test_loop_keeps_serving_while_a_probe_times_out(self):
        d = self.start("open", "hanging")
        # Scrape continuously while the hanging probe keeps timing out.
        scrapes = 0
        def timed_out_twice():
            nonlocal scrapes
            m = d.metrics()
            scrapes += 1
            return (sample(m, "vitals_probe_runs_total", probe="hanging", result="timeout") or 0) >= 2
        wait_for(timed_out_twice, what="two timeouts")
        self.assertGreater(scrapes, 2)
        m = d.metrics()
        self.assertEqual(sample(m, "vitals_probe_success", probe="hanging"), 0)
        self.assertEqual(sample(m, "vitals_probe_success", probe="open-port"), 1)
        status, body = d.get("/api/v1/probes")
        hanging = [p for p in json.loads(body)["probes"] if p["name"] == "hanging"][0]
        self.assertEqual(hanging["last"]["reason"], "timeout")

    def test_bad_reload_keeps_old_probes_and_good_reload_replaces_them(self):
        d = self.start("open", "closed")
        self.wait_all_ran(d, ["open-port", "closed-port"])

        d.write_config(config(self.probes["open"]) + "  - {name: broken, type: port, port: 99999}\n")
        d.signal(signal.SIGHUP)
        wait_for(lambda: sample(d.metrics(), "vitals_config_last_reload_successful") == 0, what="rejected reload")
        line = d.find_log(r"vitals\.yaml:8:\d+: probes\[1\]\.port: 99999")
        self.assertIsNotNone(line, "\n".join(d.log()))
        m = d.metrics()
        self.assertIsNotNone(sample(m, "vitals_probe_success", probe="closed-port"))  # old config still runs
        self.assertIsNone(sample(m, "vitals_probe_runs_total", probe="broken"))

        d.write_config(config(self.probes["open"], self.probes["foreign"]))
        d.signal(signal.SIGHUP)
        wait_for(lambda: sample(d.metrics(), "vitals_probe_success", probe="wrong-owner") is not None,
                 what="new probe's first run")
        m = d.metrics()
        self.assertEqual(sample(m, "vitals_config_last_reload_successful"), 1)
        self.assertNotIn('probe="closed-port"', m)   # removed probe's series are gone
        self.assertIsNotNone(sample(m, "vitals_probe_success", probe="open-port"))

    def test_reload_keeps_timers_and_counters_of_unchanged_probes(self):
        d = self.start("open")
        wait_for(lambda: (sample(d.metrics(), "vitals_probe_runs_total", probe="open-port", result="ok") or 0) >= 2,
                 what="two runs")
        before = sample(d.metrics(), "vitals_probe_runs_total", probe="open-port", result="ok")
        d.write_config(config(self.probes["open"], self.probes["closed"]))
        status, body = d.get("/-/reload", method="POST", headers={"X-Requested-With": "vitals-e2e"})
        self.assertEqual(status, 200, body)
        after = sample(d.metrics(), "vitals_probe_runs_total", probe="open-port", result="ok")
        self.assertGreaterEqual(after, before)  # not reset to 0

    def test_reload_endpoint_is_forbidden_unless_enabled(self):
        d = Daemon(config(self.probes["open"], lifecycle=False))
        self.addCleanup(d.stop)
        status, body = d.get("/-/reload", method="POST", headers={"X-Requested-With": "vitals-e2e"})
        self.assertEqual(status, 403)
        self.assertIn("server.enable_lifecycle", body)

    def test_http_surface(self):
        d = self.start("open")
        self.assertEqual(d.get("/-/healthy")[0], 200)
        # Ready once the probes are scheduled and the saved state is read.
        wait_for(lambda: d.get("/-/ready")[0] == 200, what="/-/ready")
        self.assertEqual(d.get("/nope")[0], 404)
        self.assertEqual(d.get("/metrics", method="DELETE")[0], 405)
        status, page = d.get("/")
        self.assertEqual(status, 200)
        self.assertIn("open-port", page)

    def test_sigterm_exits_zero_promptly(self):
        d = self.start("open", "hanging")
        self.wait_all_ran(d, ["open-port"])
        d.signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=5), 0)
        self.assertIsNotNone(d.find_log("vitalsd stopped"))


class CommandLineTest(unittest.TestCase):
    def run_vitalsd(self, *args, env=None):
        return subprocess.run([VITALSD, *args], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, **(env or {})))

    def write(self, text):
        import tempfile
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        f.write(text)
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_validate_reports_file_line_column_and_exits_2(self):
        path = self.write("probes:\n  - name: a\n    type: port\n    port: 3001\n    timeout: fast\n")
        r = self.run_vitalsd("validate", "-c", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{path}:5:14: probes[0].timeout:", r.stderr)

    def test_validate_accepts_a_good_file(self):
        path = self.write("probes:\n  - {name: a, type: port, port: 3001}\n")
        r = self.run_vitalsd("validate", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_check_prints_a_table_and_exits_1_when_a_probe_fails(self):
        sock = listener()
        self.addCleanup(sock.close)
        closed = free_port()
        path = self.write(f"probes:\n  - {{name: up-one, type: port, port: {sock.getsockname()[1]}}}\n"
                          f"  - {{name: down-one, type: port, port: {closed}}}\n")
        r = self.run_vitalsd("check", "-c", path, env={"NO_COLOR": "1"})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"✓ up-one\s+port")
        self.assertRegex(r.stdout, rf"✗ down-one\s+port.*port {closed} closed \(connection refused\)")
        self.assertNotIn("\033[", r.stdout)  # not a TTY: no colours

        only = self.run_vitalsd("check", "-c", path, "--probe", "up-one")
        self.assertEqual(only.returncode, 0, only.stdout)
        self.assertNotIn("down-one", only.stdout)

    def test_check_with_a_broken_config_exits_2(self):
        path = self.write("probes:\n  - {name: a, type: prot, port: 1}\n")
        r = self.run_vitalsd("check", "-c", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn('did you mean "port"', r.stderr)

    def test_version_and_help(self):
        self.assertRegex(self.run_vitalsd("--version").stdout, r"^vitalsd \d+\.\d+\.\d+")
        h = self.run_vitalsd("--help")
        self.assertEqual(h.returncode, 0)
        self.assertIn("vitalsd check", h.stdout)
        self.assertEqual(self.run_vitalsd("frobnicate").returncode, 2)


if __name__ == "__main__":
    unittest.main()
