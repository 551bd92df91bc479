"""A SQLite database locked by a real sqlite3 shell, seen through vitalsd's /metrics and API."""

import json
import os
import subprocess
import tempfile
import textwrap
import unittest

from vitals_harness import Daemon, sample, wait_for


class SqliteShell:
    """sqlite3 on a database, fed statements through a pipe."""

    def __init__(self, path):
        self.proc = subprocess.Popen(["sqlite3", "-batch", path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

    def run(self, sql):
        self.proc.stdin.write(sql + "\nSELECT 'vitals-e2e-done';\n")
        self.proc.stdin.flush()
        out = []
        for line in self.proc.stdout:
            if line.strip() == "vitals-e2e-done":
                return "".join(out)
            out.append(line)
        raise AssertionError("sqlite3 exited: " + "".join(out))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class SqliteLockTest(unittest.TestCase):
    def test_lock_holder_is_named_while_held_and_cleared_after(self):
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-sqlite-")
        self.addCleanup(work.cleanup)
        db = os.path.join(work.name, "grocery.db")
        subprocess.run(["sqlite3", db, "CREATE TABLE items(name TEXT, price REAL); INSERT INTO items VALUES('milk', 2.49);"],
                       check=True)
        shell = SqliteShell(db)
        self.addCleanup(shell.close)
        shell.run("BEGIN EXCLUSIVE;")
        with open(db, "rb") as f:
            before = f.read()
        mtime_before = os.stat(db).st_mtime_ns

        d = Daemon(textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0}}
            probes:
              - name: grocery-db
                type: sqlite
                path: {db}
                interval: 200ms
                timeout: 150ms
            """))
        self.addCleanup(d.stop)

        pid = str(shell.proc.pid)
        m = wait_for(lambda: (lambda m: m if sample(m, "vitals_sqlite_locked", probe="grocery-db") == 1 else None)(
            d.metrics()), what="vitals_sqlite_locked 1")
        self.assertEqual(sample(m, "vitals_sqlite_lock_holder_info", probe="grocery-db", pid=pid, process="sqlite3",
                                lock="exclusive"), 1, m)
        self.assertEqual(sample(m, "vitals_probe_success", probe="grocery-db"), 0)

        # The same shell keeps it: the hold is measured across runs.
        wait_for(lambda: (sample(d.metrics(), "vitals_sqlite_lock_held_seconds", probe="grocery-db") or 0) >= 0.4,
                 what="held seconds to grow")

        status, body = d.get("/api/v1/probes")
        self.assertEqual(status, 200)
        probe = next(p for p in json.loads(body)["probes"] if p["name"] == "grocery-db")
        self.assertIn(f"exclusive lock held by sqlite3 (pid {pid})", json.dumps(probe))

        shell.run("ROLLBACK;")
        m = wait_for(lambda: (lambda m: m if sample(m, "vitals_sqlite_locked", probe="grocery-db") == 0 else None)(
            d.metrics()), what="vitals_sqlite_locked 0")
        self.assertEqual(sample(m, "vitals_sqlite_lock_held_seconds", probe="grocery-db"), 0)
        self.assertIsNone(sample(m, "vitals_sqlite_lock_holder_info", probe="grocery-db"))
        wait_for(lambda: sample(d.metrics(), "vitals_probe_success", probe="grocery-db") == 1, what="success")

        # All that probing changed nothing and created nothing.
        with open(db, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(os.stat(db).st_mtime_ns, mtime_before)
        self.assertEqual(sorted(os.listdir(work.name)), ["grocery.db"])


if __name__ == "__main__":
    unittest.main()
