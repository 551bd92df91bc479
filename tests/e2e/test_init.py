"""`vitalsd init` on a host running real services: a Redis, a PostgreSQL
cluster, an HTTP server with a health path, a WebSocket server, a SQLite
file and the programs behind them. What it writes must validate, name each
service with its owner, pass `check`, and never carry a secret."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

import yaml

from vitals_harness import RedisServer, free_port, wait_for, VITALSD
from test_dashboards import PostgresCluster, spawn, stop_process, SYSTEM_PYTHON, FIXTURES

SECRET = "init-test-hunter2"


def vitalsd(*args, user=None, timeout=120):
    argv = [os.path.abspath(VITALSD) if os.sep in VITALSD else VITALSD, *args]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def accepts(port):
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def check_rows(stdout):
    """{probe name: True when ✓} from `vitalsd check`'s table."""
    rows = {}
    for line in stdout.splitlines():
        if line[:2] in ("✓ ", "✗ "):
            rows[line[2:].split()[0]] = line.startswith("✓")
    return rows


class InitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        stack = contextlib.ExitStack()
        cls.addClassCleanup(stack.close)
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-init-")
        stack.callback(work.cleanup)
        cls.work = work.name
        os.chmod(cls.work, 0o755)

        cls.redis = RedisServer()
        stack.callback(cls.redis.close)
        # A Redis with a password: init may say that it needs one, never what it is.
        cls.locked_redis = RedisServer(extra_args=("--requirepass", SECRET))
        stack.callback(cls.locked_redis.close)
        cls.pg = PostgresCluster()
        stack.callback(cls.pg.close)

        # The "app": a health payload served by a separate python3 process
        # whose command line also carries a password-looking argument.
        www = os.path.join(cls.work, "www")
        os.makedirs(www)
        with open(os.path.join(www, "health"), "w") as f:
            json.dump({"status": "ok", "database": "connected", "uptime": 12.5}, f)
        cls.http_port = free_port()
        spawn(stack, [sys.executable, "-m", "http.server", str(cls.http_port), "--bind", "127.0.0.1",
                      "--directory", www], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: accepts(cls.http_port), what="the HTTP server")
        spawn(stack, [sys.executable, "-c", "import sys, time; time.sleep(3600)", f"--password={SECRET}"])

        assert os.path.exists(SYSTEM_PYTHON), "the system Python with python3-websockets is required"
        ws = spawn(stack, [SYSTEM_PYTHON, os.path.join(FIXTURES, "ws_pong_server.py"), "0"],
                   stdout=subprocess.PIPE, text=True)
        cls.ws_port = int(ws.stdout.readline().split()[1])

        # A Go program holding a port: Debian's Alertmanager.
        alertmanager = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
        assert os.path.exists(alertmanager), "prometheus-alertmanager is installed by scripts/install-deps"
        with open(os.path.join(cls.work, "am.yml"), "w") as f:
            f.write("route: {receiver: none}\nreceivers: [{name: none}]\n")
        cls.am_port = free_port()
        spawn(stack, [alertmanager, f"--config.file={cls.work}/am.yml", f"--storage.path={cls.work}/am",
                      f"--web.listen-address=127.0.0.1:{cls.am_port}", "--cluster.listen-address="],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: accepts(cls.am_port), limit=30, what="Alertmanager")

        sqlite3 = shutil.which("sqlite3")
        assert sqlite3, "sqlite3 (Debian package sqlite3) is required"
        cls.data = os.path.join(cls.work, "data")
        os.makedirs(os.path.join(cls.data, "nested"))
        cls.db = os.path.join(cls.data, "nested", "orders.sqlite")  # found by its header, not its name
        subprocess.run([sqlite3, cls.db, "PRAGMA journal_mode=WAL; CREATE TABLE t(a);"], check=True,
                       capture_output=True, timeout=30)
        with open(os.path.join(cls.data, "notes.db"), "w") as f:
            f.write("not a database, whatever its name says\n" * 10)

        cls.config = os.path.join(cls.work, "init.yaml")
        done = vitalsd("init", "--scan", cls.data, "--http", "-o", cls.config)
        assert done.returncode == 0, done.stderr
        cls.init_stderr = done.stderr
        with open(cls.config) as f:
            cls.text = f.read()
        cls.probes = {p["name"]: p for p in yaml.safe_load(cls.text)["probes"]}

    def probe(self, **wanted):
        found = [p for p in self.probes.values() if all(p.get(k) == v for k, v in wanted.items())]
        self.assertEqual(len(found), 1, f"one probe with {wanted} in:\n{self.text}")
        return found[0]

    def test_the_config_validates_and_check_passes_for_every_service(self):
        done = vitalsd("validate", "-c", self.config)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        done = vitalsd("check", "-c", self.config)
        rows = check_rows(done.stdout)
        ours = [self.probe(type="redis", address=f"127.0.0.1:{self.redis.port}")["name"],
                self.probe(type="postgres", conninfo=f"host=127.0.0.1 port={self.pg.port} dbname=postgres user=postgres")["name"],
                self.probe(type="http", url=f"http://127.0.0.1:{self.http_port}/health")["name"],
                self.probe(type="websocket", url=f"ws://127.0.0.1:{self.ws_port}/")["name"],
                self.probe(type="sqlite", path=self.db)["name"],
                self.probe(type="port", port=self.http_port)["name"],
                self.probe(type="port", port=self.pg.port)["name"]]
        for name in ours:
            self.assertTrue(rows.get(name), f"{name} should pass check:\n{done.stdout}")
        # The one thing really wrong here: the locked Redis has no password configured.
        locked = self.probe(type="redis", address=f"127.0.0.1:{self.locked_redis.port}")["name"]
        self.assertFalse(rows.get(locked), done.stdout)

    def test_each_port_names_its_owner_and_servers_get_their_own_probes(self):
        self.assertEqual(self.probe(type="port", port=self.http_port)["expect_process"], "python3")
        self.assertEqual(self.probe(type="port", port=self.redis.port)["expect_process"], "redis-server")
        self.assertEqual(self.probe(type="port", port=self.pg.port)["expect_process"], "postgres")
        self.assertIn(f"port {self.http_port} is owned by python3 (pid ", self.text)
        self.assertIn("GRANT pg_monitor", self.text)
        http = self.probe(type="http", url=f"http://127.0.0.1:{self.http_port}/health")
        self.assertEqual(http["expect_json"], {"status": "ok", "database": "connected"})  # not the changing number
        self.assertEqual(self.probe(type="websocket", url=f"ws://127.0.0.1:{self.ws_port}/")["mode"], "control")
        server = self.probe(type="process", match={"name": "python3", "cmdline": r"http\.server"})
        self.assertGreaterEqual(server["min_count"], 1)
        self.assertRegex(str(server["rss_limit"]), r"^\d+(MiB|GiB)$")

    def test_a_go_program_holding_a_port_gets_a_process_probe_under_its_kernel_name(self):
        self.assertEqual(self.probe(type="port", port=self.am_port)["expect_process"], "prometheus-alertmanager")
        go = self.probe(type="process", match={"name": "prometheus-aler"})  # comm: 15 bytes
        self.assertGreaterEqual(go["min_count"], 1)

    def test_sqlite_files_are_found_by_their_header_and_their_disk_is_watched(self):
        sqlite = [p for p in self.probes.values() if p["type"] == "sqlite"]
        self.assertEqual([p["path"] for p in sqlite], [self.db])
        self.assertIn("WAL mode", self.text)
        disks = [p for p in self.probes.values() if p["type"] == "disk"]
        self.assertTrue(any(p["path"] == os.path.dirname(self.db) for p in disks), self.text)

    def test_no_secret_is_written_and_a_password_is_only_a_commented_placeholder(self):
        self.assertNotIn(SECRET, self.text)
        self.assertNotIn(SECRET, self.init_stderr)
        locked = self.probe(type="redis", address=f"127.0.0.1:{self.locked_redis.port}")
        self.assertNotIn("password", locked)
        self.assertIn("# password: ${env:REDIS_PASSWORD}", self.text)
        self.assertNotIn("password", self.probe(type="redis", address=f"127.0.0.1:{self.redis.port}"))

    def test_names_are_unique_and_readable(self):
        names = [p["name"] for p in yaml.safe_load(self.text)["probes"]]
        self.assertEqual(len(names), len(set(names)))
        for name in names:
            self.assertRegex(name, r"^[a-z0-9][a-z0-9.-]*$")

    def test_an_existing_file_is_kept_unless_forced(self):
        target = os.path.join(self.work, "keep.yaml")
        with open(target, "w") as f:
            f.write("probes: []\n")
        done = vitalsd("init", "-o", target)
        self.assertEqual(done.returncode, 1)
        self.assertIn("exists; add --force", done.stderr)
        with open(target) as f:
            self.assertEqual(f.read(), "probes: []\n")
        done = vitalsd("init", "-o", target, "--force")
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(target) as f:
            self.assertIn("written by `vitalsd init`", f.read())

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run init as another user")
    def test_an_ordinary_user_gets_a_config_and_is_told_what_it_could_not_see(self):
        out = os.path.join(self.work, "nobody.yaml")
        done = vitalsd("init", user="nobody")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("not seen: the owners of", done.stderr)
        self.assertIn("CAP_SYS_PTRACE", done.stderr)
        with open(out, "w") as f:
            f.write(done.stdout)
        self.assertEqual(vitalsd("validate", "-c", out).returncode, 0)
        ports = {p.get("port"): p for p in yaml.safe_load(done.stdout)["probes"] if p["type"] == "port"}
        # Root's Redis is there, without an owner it could not see.
        self.assertIn(self.redis.port, ports)
        self.assertNotIn("expect_process", ports[self.redis.port])


if __name__ == "__main__":
    unittest.main()
