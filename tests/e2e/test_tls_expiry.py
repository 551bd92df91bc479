"""Certificate expiry through the real daemon: certificates made by the real
`openssl` tool (one expiring in 2 days, one in 90), served by `openssl
s_server`, probed over https://. The built-in TLSCertExpiringSoon fires for
the first and not for the second, and promtool accepts the new series."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest
from datetime import datetime, timezone

from vitals_harness import Daemon, sample, wait_for


def openssl(*args, cwd):
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"
    return done.stdout


def make_leaf(work, name, days):
    """name.pem and name.key: CN=localhost and IP 127.0.0.1, valid `days`, signed by work/root."""
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/O=vitals tests/CN=localhost", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=work)
    with open(os.path.join(work, f"{name}.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial",
            "-days", str(days), "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=work)


def not_after(work, name):
    """The certificate's notAfter as openssl reads it, in Unix seconds."""
    text = openssl("x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in", f"{name}.pem", cwd=work)
    when = datetime.strptime(text.strip(), "notAfter=%Y-%m-%d %H:%M:%SZ").replace(tzinfo=timezone.utc)
    return int(when.timestamp())


class TlsServer:
    """openssl s_server -www with one certificate, on a port it picks."""

    def __init__(self, work, name):
        self.proc = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", f"{name}.pem",
                                      "-key", f"{name}.key", "-www"],
                                     cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        for line in self.proc.stdout:  # "ACCEPT 127.0.0.1:PORT" once it listens
            m = re.match(r"ACCEPT 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        else:
            raise AssertionError("openssl s_server did not start")
        # Read on, so a full pipe never stalls the server.
        self._drain = threading.Thread(target=self.proc.stdout.read, daemon=True)
        self._drain.start()

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self._drain.join(timeout=10)
        self.proc.stdout.close()


class TlsExpiryTest(unittest.TestCase):
    def setUp(self):
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-tls-")
        self.addCleanup(work.cleanup)
        self.work = work.name
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "365",
                "-subj", "/O=vitals tests/CN=vitals test root", "-keyout", "root.key", "-out", "root.pem",
                cwd=self.work)
        make_leaf(self.work, "soon", 2)
        make_leaf(self.work, "later", 90)
        self.servers = {}
        for name in ("soon", "later"):
            server = TlsServer(self.work, name)
            self.addCleanup(server.close)
            self.servers[name] = server
        config = "server: {listen: 127.0.0.1:0}\nalerts: {evaluation_interval: 200ms}\nprobes:\n"
        for name, server in self.servers.items():
            config += (f"  - {{name: {name}, type: http, url: 'https://127.0.0.1:{server.port}/',"
                       f" tls: {{ca_file: '{self.work}/root.pem'}}, interval: 500ms, timeout: 400ms}}\n")
        self.daemon = Daemon(config)
        self.addCleanup(self.daemon.stop)

    def alerts(self):
        status, body = self.daemon.get("/api/v1/alerts")
        self.assertEqual(status, 200, body)
        return [a for a in json.loads(body)["alerts"] if a["alertname"] == "TLSCertExpiringSoon"]

    def test_a_certificate_expiring_in_two_days_fires_and_one_in_ninety_does_not(self):
        m = wait_for(lambda: (lambda m: m if all(sample(m, "vitals_tls_cert_expiry_timestamp_seconds", probe=p)
                                                 is not None for p in self.servers) else None)(self.daemon.metrics()),
                     what="both probes to report their certificate")
        self.assertEqual(sample(m, "vitals_tls_cert_expiry_timestamp_seconds", probe="soon"),
                         not_after(self.work, "soon"))
        self.assertEqual(sample(m, "vitals_tls_cert_expiry_timestamp_seconds", probe="later"),
                         not_after(self.work, "later"))
        self.assertLess(sample(m, "vitals_tls_cert_expiry_seconds", probe="soon"), 2 * 86400 + 1)

        [fired] = wait_for(lambda: [a for a in self.alerts() if a["state"] == "firing"], what="TLSCertExpiringSoon")
        self.assertEqual(fired["labels"]["probe"], "soon")
        self.assertEqual(fired["labels"]["severity"], "medium")
        self.assertIn("TLSCertExpiringSoon", fired["runbook_url"])
        self.assertRegex(fired["summary"], r"^TLS certificate of soon expires in 1d 23h ")
        # Both series were there before this evaluation: the seconds left of
        # "soon" count down from run to run, so a new value is a later one.
        first = fired["value"]
        wait_for(lambda: [a for a in self.alerts() if a["value"] != first], what="another evaluation")
        self.assertEqual([a["labels"]["probe"] for a in self.alerts()], ["soon"])

    def test_promtool_accepts_the_certificate_series(self):
        body = wait_for(lambda: (lambda m: m if sample(m, "vitals_tls_cert_expiry_seconds", probe="soon") is not None
                                 else None)(self.daemon.metrics()), what="the certificate series")
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is required")
        check = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("# TYPE vitals_tls_cert_expiry_timestamp_seconds gauge", body)
        self.assertIn("# TYPE vitals_tls_cert_expiry_seconds gauge", body)


if __name__ == "__main__":
    unittest.main()
