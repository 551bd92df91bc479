"""The log probe through the real daemon: lines the runbooks grep for are
appended to a file, a journal (written by systemd-journal-remote) and a
Docker json-file log; /metrics must count exactly what was appended,
promtool must accept the exposition, and /api/v1/probes must show the last
matching lines as evidence."""

import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import textwrap
import unittest

from vitals_harness import Daemon, sample, wait_for

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
CONTAINER_ID = "f" * 64


def journal_entries(messages, unit, first_second):
    """The journal export format for `messages` logged by `unit`, a second apart."""
    out = b""
    for i, message in enumerate(messages):
        usec = (first_second + i) * 1_000_000
        out += f"__REALTIME_TIMESTAMP={usec}\n__MONOTONIC_TIMESTAMP={usec}\n".encode()
        out += b"_BOOT_ID=0123456789abcdef0123456789abcdef\n"
        out += f"_SYSTEMD_UNIT={unit}\n".encode()
        data = message.encode()
        out += b"MESSAGE\n" + struct.pack("<Q", len(data)) + data + b"\n\n"
    return out


class LogProbeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="vitals-log-e2e-")
        self.addCleanup(self.dir.cleanup)
        root = self.dir.name
        self.log_path = os.path.join(root, "app.log")
        open(self.log_path, "w").close()
        self.journal_dir = os.path.join(root, "journal")
        os.mkdir(self.journal_dir)
        self.journal_second = 1_700_000_000
        self.append_journal(["session service started"])
        self.container_dir = os.path.join(root, "docker", "containers", CONTAINER_ID)
        os.makedirs(self.container_dir)
        with open(os.path.join(self.container_dir, "config.v2.json"), "w") as f:
            json.dump({"ID": CONTAINER_ID, "Name": "/api", "State": {"Running": True}}, f)
        with open(os.path.join(self.container_dir, "hostconfig.json"), "w") as f:
            json.dump({"LogConfig": {"Type": "json-file", "Config": {}}}, f)
        self.container_log = os.path.join(self.container_dir, f"{CONTAINER_ID}-json.log")
        open(self.container_log, "w").close()
        patterns = textwrap.indent(textwrap.dedent("""\
            patterns:
              - {name: error, regex: 'ERROR'}
              - {name: busy, regex: 'SQLITE_BUSY: database is locked'}
              - {name: refused, regex: '(?P<code>ECONNREFUSED|EMFILE)', group_by: code}
            interval: 300ms
            timeout: 250ms
            """), "    ")
        self.config = "server: {listen: 127.0.0.1:0}\nprobes:\n" + \
            f"  - name: app-log\n    type: log\n    path: {root}/*.log\n" + patterns + \
            "  - name: session-journal\n    type: log\n" + \
            f"    journal: {{unit: session, directory: {self.journal_dir}}}\n" + \
            patterns + \
            f"  - name: api-container\n    type: log\n    docker: {{container: api, root: {root}/docker}}\n" + patterns

    def append_journal(self, messages):
        export = journal_entries(messages, "session.service", self.journal_second)
        self.journal_second += len(messages)
        subprocess.run([JOURNAL_REMOTE, "-o", os.path.join(self.journal_dir, "remote.journal"), "-"], input=export,
                       check=True, capture_output=True)

    def append_container(self, lines):
        with open(self.container_log, "a") as f:
            for line in lines:
                f.write(json.dumps({"log": line + "\n", "stream": "stderr", "time": "2024-05-01T10:00:00.5Z"}) + "\n")

    def runs(self, d, probe):
        return sample(d.metrics(), "vitals_probe_runs_total", probe=probe, result="ok") or 0

    def test_appended_lines_are_counted_exactly_and_shown_as_evidence(self):
        d = Daemon(self.config)
        self.addCleanup(d.stop)
        probes = ["app-log", "session-journal", "api-container"]
        wait_for(lambda: all(self.runs(d, p) >= 1 for p in probes), what="first runs: every source at its end")

        runbook_lines = ["ERROR SQLITE_BUSY: database is locked", "GET /health 200",
                         "ERROR connect ECONNREFUSED 127.0.0.1:5432", "FATAL JavaScript heap out of memory"]
        with open(self.log_path, "a") as f:
            for _ in range(25):
                f.write("\n".join(runbook_lines) + "\n")
        self.append_journal(runbook_lines * 25)
        self.append_container(runbook_lines * 25)

        def counted():
            m = d.metrics()
            return m if all(sample(m, "vitals_log_lines_total", probe=p) == 100 for p in probes) else None
        m = wait_for(counted, what="100 lines counted by each probe")
        for p in probes:
            self.assertEqual(sample(m, "vitals_log_matches_total", probe=p, pattern="error"), 50, p)
            self.assertEqual(sample(m, "vitals_log_matches_total", probe=p, pattern="busy"), 25, p)
            self.assertEqual(sample(m, "vitals_log_matches_total", probe=p, pattern="refused"), 25, p)
            self.assertEqual(sample(m, "vitals_log_files_followed", probe=p), 1, p)
            self.assertEqual(sample(m, "vitals_probe_success", probe=p), 1, p)

        # More runs count nothing twice.
        before = {p: self.runs(d, p) for p in probes}
        wait_for(lambda: all(self.runs(d, p) >= before[p] + 2 for p in probes), what="two more runs each")
        m = d.metrics()
        for p in probes:
            self.assertEqual(sample(m, "vitals_log_lines_total", probe=p), 100, p)

        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is required")
        r = subprocess.run([promtool, "check", "metrics"], input=m, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("# TYPE vitals_log_matches_total counter", m)

        status, body = d.get("/api/v1/probes")
        self.assertEqual(status, 200)
        evidence = {p["name"]: p["last"]["evidence"] for p in json.loads(body)["probes"]}
        self.assertTrue(evidence["app-log"]["busy #1"].endswith(
            f"{self.log_path}: ERROR SQLITE_BUSY: database is locked"), evidence["app-log"])
        self.assertEqual(evidence["session-journal"]["error #1"],
                         "2023-11-14T22:14:59.000Z session.service: ERROR connect ECONNREFUSED 127.0.0.1:5432")
        self.assertEqual(evidence["api-container"]["busy #1"],
                         "2024-05-01T10:00:00.500Z api: ERROR SQLITE_BUSY: database is locked")
        self.assertIn("error #5", evidence["api-container"])

    def test_a_missing_file_fails_the_probe_with_reason_missing(self):
        os.remove(self.log_path)
        config = self.config.replace(f"{self.dir.name}/*.log", self.log_path)
        d = Daemon(config)
        self.addCleanup(d.stop)
        wait_for(lambda: sample(d.metrics(), "vitals_probe_failure_info", probe="app-log", reason="missing") == 1,
                 what="the file probe to fail with reason missing")
        status, body = d.get("/api/v1/probes")
        last = [p for p in json.loads(body)["probes"] if p["name"] == "app-log"][0]["last"]
        self.assertEqual(last["error"], f"{self.log_path} does not exist")

    def test_libsystemd_is_loaded_only_once_a_journal_source_reads(self):
        # Without a journal source the daemon does not carry libsystemd and
        # the libraries it pulls in; configuring one loads it on a reload.
        files_only = self.config[:self.config.index("  - name: session-journal")]
        d = Daemon(files_only)
        self.addCleanup(d.stop)
        wait_for(lambda: self.runs(d, "app-log") >= 1, what="the file probe's first run")
        self.assertNotIn("libsystemd.so", self.mapped(d))

        d.write_config(self.config)
        d.signal(signal.SIGHUP)
        wait_for(lambda: self.runs(d, "session-journal") >= 1, what="the journal probe's first run after the reload")
        self.assertIn("libsystemd.so", self.mapped(d))

    def mapped(self, d):
        with open(f"/proc/{d.proc.pid}/maps") as f:
            return f.read()


if __name__ == "__main__":
    unittest.main()
