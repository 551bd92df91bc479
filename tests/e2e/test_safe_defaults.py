"""Safe defaults, as a user meets them: POST /-/reload refuses what another
site could make a browser send (tried with curl: a cross-site form post, a
rebound DNS name, a plain POST) and reloads for curl with a custom header;
the state files are 0600 under a shell's umask and a wide state directory
is warned about; running as root outside systemd is warned about."""

import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest
import urllib.parse

from vitals_harness import Daemon, wait_for


def config(state_path=None, extra_probe=False):
    text = textwrap.dedent("""\
        server: {listen: 127.0.0.1:0, enable_lifecycle: true}
        log: {level: info, format: text}
        probes:
          - {name: first, type: disk, path: /, interval: 1s, timeout: 500ms}
        """)
    if extra_probe:
        text += "  - {name: second, type: disk, path: /, interval: 1s, timeout: 500ms}\n"
    if state_path:
        text += f"state: {{path: {state_path}}}\n"
    return text


def probe_names(d):
    status, body = d.get("/api/v1/probes")
    assert status == 200, body
    return sorted(re.findall(r'"name":"([^"]+)"', body))


class ReloadOverHttpTest(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(shutil.which("curl"), "curl is installed by scripts/install-deps")
        self.d = Daemon(config())
        self.addCleanup(self.d.stop)
        wait_for(lambda: self.d.get("/-/ready")[0] == 200, what="/-/ready")
        # What a reload would apply: a second probe.
        self.d.write_config(config(extra_probe=True))
        self.port = urllib.parse.urlsplit(self.d.base).port

    def curl(self, *args, url=None):
        done = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args, url or self.d.base + "/-/reload"],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr)
        body, _, status = done.stdout.rpartition("\n")
        return int(status), body

    def assert_not_reloaded(self):
        self.assertEqual(probe_names(self.d), ["first"])
        self.assertIsNone(self.d.find_log(r"config: loaded"), "\n".join(self.d.log()))

    def test_a_cross_site_form_post_is_refused_and_nothing_reloads(self):
        status, body = self.curl("-X", "POST", "-H", "Origin: http://evil.example",
                                 "-H", "Content-Type: application/x-www-form-urlencoded", "--data", "x=1")
        self.assertEqual(status, 403, body)
        self.assertIn('Origin "http://evil.example"', body)
        self.assert_not_reloaded()

    def test_a_rebound_dns_name_is_refused_even_with_the_custom_header(self):
        # evil.example resolving to this daemon's address: what a page of
        # evil.example gets after its DNS answer changes (DNS rebinding).
        status, body = self.curl("-X", "POST", "-H", "X-Requested-With: curl",
                                 "--resolve", f"evil.example:{self.port}:127.0.0.1",
                                 url=f"http://evil.example:{self.port}/-/reload")
        self.assertEqual(status, 403, body)
        self.assertIn(f'Host "evil.example:{self.port}" does not name this server', body)
        self.assert_not_reloaded()

    def test_a_plain_post_is_refused_with_the_header_to_add(self):
        status, body = self.curl("-X", "POST")
        self.assertEqual(status, 403, body)
        self.assertIn(f"curl -X POST -H 'X-Requested-With: vitalsd' 127.0.0.1:{self.port}/-/reload", body)
        self.assertEqual(body.count("\n"), 1, body)  # one line
        self.assert_not_reloaded()

    def test_curl_with_x_requested_with_reloads(self):
        status, body = self.curl("-X", "POST", "-H", "X-Requested-With: curl")
        self.assertEqual(status, 200, body)
        self.assertEqual(probe_names(self.d), ["first", "second"])

    def test_localhost_with_a_json_content_type_reloads(self):
        status, body = self.curl("-X", "POST", "-H", "Content-Type: application/json", "--data", "{}",
                                 url=f"http://localhost:{self.port}/-/reload")
        self.assertEqual(status, 200, body)
        self.assertEqual(probe_names(self.d), ["first", "second"])


class StateFileModesTest(unittest.TestCase):
    def test_state_db_wal_and_shm_are_0600_under_umask_022(self):
        old = os.umask(0o022)
        try:
            d = Daemon(config())
        finally:
            os.umask(old)
        self.addCleanup(d.stop)
        path = os.path.join(d.dir.name, "state.db")
        files = [path, path + "-wal", path + "-shm"]
        wait_for(lambda: all(os.path.exists(f) for f in files), what="state.db and its -wal and -shm")
        for f in files:
            self.assertEqual(oct(os.stat(f).st_mode & 0o7777), oct(0o600), f)

    def test_a_state_directory_others_can_enter_is_warned_about_once(self):
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-wide-")
        self.addCleanup(work.cleanup)
        wide = os.path.join(work.name, "state")
        os.mkdir(wide)
        os.chmod(wide, 0o755)
        state = os.path.join(wide, "state.db")
        d = Daemon(config(state_path=state))
        self.addCleanup(d.stop)
        wait_for(lambda: d.get("/-/ready")[0] == 200, what="/-/ready")
        warnings = [line for line in d.log() if "chmod 700" in line]
        self.assertEqual(len(warnings), 1, "\n".join(d.log()))
        self.assertIn(f"{wide} is mode 0755", warnings[0])
        self.assertEqual(os.stat(wide).st_mode & 0o777, 0o755)  # told, not changed
        self.assertEqual(os.stat(state).st_mode & 0o777, 0o600)


class RootWarningTest(unittest.TestCase):
    WARNING = r"running as root outside systemd"

    def start(self, invocation_id):
        saved = os.environ.pop("INVOCATION_ID", None)  # the test runner's own, if systemd started it
        try:
            d = Daemon(config(), extra_env={"INVOCATION_ID": invocation_id} if invocation_id else None)
        finally:
            if saved is not None:
                os.environ["INVOCATION_ID"] = saved
        self.addCleanup(d.stop)
        # Logged before anything of the config: once this is there, so is it.
        wait_for(lambda: d.find_log(r"vitalsd started"), what="start")
        return d

    def test_root_outside_systemd_is_warned_once_with_how_to_run_as_a_user(self):
        self.assertEqual(os.geteuid(), 0, "the test command runs as root")
        d = self.start(None)
        lines = [line for line in d.log() if re.search(self.WARNING, line)]
        self.assertEqual(len(lines), 1, "\n".join(d.log()))
        self.assertIn("command line", lines[0])
        self.assertIn("runuser -u vitals -- vitalsd run -c " + d.config_path, lines[0])

    def test_root_under_systemd_is_not_warned(self):
        self.assertEqual(os.geteuid(), 0, "the test command runs as root")
        d = self.start("0123456789abcdef0123456789abcdef")
        self.assertIsNone(d.find_log(self.WARNING), "\n".join(d.log()))


if __name__ == "__main__":
    unittest.main()
