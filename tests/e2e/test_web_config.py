"""TLS, client certificates and basic auth from an exporter-toolkit web config,
checked with the clients users have: curl, openssl s_client and Prometheus.

What a user relies on:
- a node_exporter web config file works unchanged with --web.config.file;
- every endpoint but /-/healthy wants credentials; wrong ones get 401 with
  WWW-Authenticate and are counted;
- RequireAndVerifyClientCert turns away clients without a certificate from
  the configured CA;
- min_version is enforced;
- Prometheus scrapes over TLS with basic_auth and tls_config;
- a renewed certificate is served without a reload; a bad new pair keeps
  the old one;
- a broken web config stops the start with file:line:col.
"""

import crypt
import json
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest
import urllib.parse
import urllib.request
import warnings

from vitals_harness import VITALSD, Daemon, free_port, sample, wait_for

CONFIG = """
server: {listen: "127.0.0.1:0"}
alerts: {defaults: false}
probes:
  - {name: self, type: port, port: 1, expect: closed, interval: 1s, timeout: 500ms}
"""

PASSWORD = "correct horse battery staple"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d, tag=""):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all P-256."""
    def key(name):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name, cwd=d)

    def signed(name, subject, ext):
        key(f"{name}.key")
        openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(ext)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"ca{tag}.crt", "-CAkey", f"ca{tag}.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)

    key(f"ca{tag}.key")
    openssl("req", "-x509", "-new", "-key", f"ca{tag}.key", "-subj", f"/CN=vitals test CA{tag}", "-days", "2",
            "-out", f"ca{tag}.crt", cwd=d)
    signed(f"server{tag}", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    signed(f"client{tag}", "/CN=prometheus", "subjectAltName=DNS:prometheus.test\nextendedKeyUsage=clientAuth\n")


def bcrypt_hash(password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))


def curl(url, *args):
    """Status code (0 when no HTTP answer), headers and body, as curl sees them."""
    out = subprocess.run(["curl", "-sS", "--max-time", "10", "-D", "-", "-o", "-", "-w", "\n%{http_code}", *args, url],
                         capture_output=True, text=True)
    lines = out.stdout.rsplit("\n", 1)
    code = int(lines[-1]) if lines[-1].isdigit() else 0
    head, _, body = lines[0].partition("\n\n")  # text mode has turned CRLF into LF
    return code, head, body, out.returncode


def fingerprint_served(port):
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost"],
                         input="", capture_output=True, text=True, timeout=10)
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out.stdout, re.S)
    if not pem:
        return None
    fp = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem.group(0),
                        capture_output=True, text=True)
    return fp.stdout.strip()


def fingerprint_of(path):
    fp = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", path],
                        capture_output=True, text=True, check=True)
    return fp.stdout.strip()


class WebConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("curl", "openssl"):
            assert shutil.which(tool), f"{tool} is required"
        cls.pki = tempfile.TemporaryDirectory(prefix="vitals-pki-")
        make_pki(cls.pki.name)
        make_pki(cls.pki.name, tag="-other")  # a CA the daemon does not trust
        cls.hash = bcrypt_hash(PASSWORD)

    @classmethod
    def tearDownClass(cls):
        cls.pki.cleanup()

    def path(self, name):
        return os.path.join(self.pki.name, name)

    def start(self, web_yaml, via_flag=True):
        web = os.path.join(self.pki.name, f"web-{self.id().rsplit('.', 1)[-1]}.yml")
        with open(web, "w") as f:
            f.write(textwrap.dedent(web_yaml))
        if via_flag:
            d = Daemon(CONFIG, extra_args=("--web.config.file", web))
        else:
            d = Daemon(CONFIG.replace('server: {', f'server: {{web_config_file: "{web}", '))
        self.addCleanup(d.stop)
        return d, web

    def tls_and_users(self, extra_tls=()):
        """A web config with TLS, one bcrypt user, and `extra_tls` lines in tls_server_config."""
        lines = ["tls_server_config:", "  cert_file: server.crt", "  key_file: server.key"]
        lines += [f"  {line}" for line in extra_tls]
        lines += ["basic_auth_users:", f"  prometheus: {self.hash}", ""]
        return "\n".join(lines)

    def test_curl_needs_credentials_everywhere_but_healthy(self):
        d, _ = self.start(self.tls_and_users())
        self.assertTrue(d.base.startswith("https://"), d.base)
        ca = ("--cacert", self.path("ca.crt"))
        for path in ("/metrics", "/", "/api/v1/probes", "/api/v1/alerts", "/api/v1/incidents", "/-/ready"):
            code, head, _, _ = curl(d.base + path, *ca)
            self.assertEqual(code, 401, path)
            self.assertRegex(head, r"(?i)www-authenticate: Basic realm=\"vitalsd\"", path)
        code, _, _, _ = curl(d.base + "/-/reload", *ca, "-X", "POST", "-H", "X-Requested-With: test")
        self.assertEqual(code, 401, "the lifecycle API is behind credentials too")
        code, _, body, _ = curl(d.base + "/-/healthy", *ca)
        self.assertEqual(code, 200, "load balancers and service managers probe /-/healthy without credentials")

        self.assertEqual(curl(d.base + "/metrics", *ca, "-u", "prometheus:wrong")[0], 401)
        self.assertEqual(curl(d.base + "/metrics", *ca, "-u", f"nobody:{PASSWORD}")[0], 401)
        code, head, body, _ = curl(d.base + "/metrics", *ca, "-u", f"prometheus:{PASSWORD}")
        self.assertEqual(code, 200)
        self.assertIn("vitals_probe_up", body)
        self.assertRegex(head, r"(?i)x-content-type-options: nosniff")
        self.assertEqual(sample(body, "vitals_http_requests_refused_total", reason="wrong_credentials"), 2)
        self.assertGreaterEqual(sample(body, "vitals_http_requests_refused_total", reason="missing_credentials"), 7)

        code, _, _, rc = curl(d.base.replace("https", "http") + "/metrics")
        self.assertNotEqual(code, 200, "plain HTTP is not served on a TLS listener")

    def test_client_certificate_from_the_configured_ca_is_required(self):
        d, _ = self.start("""\
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.crt
            """)
        ca = ("--cacert", self.path("ca.crt"))
        code, _, _, rc = curl(d.base + "/metrics", *ca)
        self.assertEqual(code, 0, "no certificate, no HTTP answer")
        self.assertNotEqual(rc, 0)
        code, _, _, _ = curl(d.base + "/metrics", *ca, "--cert", self.path("client-other.crt"),
                             "--key", self.path("client-other.key"))
        self.assertEqual(code, 0, "a certificate from another CA is turned away")
        code, _, body, _ = curl(d.base + "/metrics", *ca, "--cert", self.path("client.crt"),
                                "--key", self.path("client.key"))
        self.assertEqual(code, 200)
        self.assertGreaterEqual(sample(body, "vitals_http_connections_dropped_total", reason="tls_handshake"), 2)

    def test_client_allowed_sans_must_match(self):
        d, _ = self.start("""\
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.crt
              client_allowed_sans: [scraper.test]
            """)
        args = ("--cacert", self.path("ca.crt"), "--cert", self.path("client.crt"), "--key", self.path("client.key"))
        self.assertEqual(curl(d.base + "/metrics", *args)[0], 0, "prometheus.test is not in client_allowed_sans")

    def test_min_version_is_enforced(self):
        d, _ = self.start("""\
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              min_version: TLS13
            """)

        def handshake(flag):
            out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{d.port}", flag], input="",
                                 capture_output=True, text=True, timeout=10)
            return out.returncode, out.stdout + out.stderr

        rc, text = handshake("-tls1_2")
        self.assertNotEqual(rc, 0, text)
        rc, text = handshake("-tls1_3")
        self.assertEqual(rc, 0, text)
        self.assertRegex(text, r"Protocol\s*:\s*TLSv1\.3|New, TLSv1\.3")

    def test_prometheus_scrapes_over_tls_with_basic_auth_and_a_client_certificate(self):
        binary = shutil.which("prometheus")
        self.assertIsNotNone(binary, "prometheus (Debian package prometheus) is required")
        d, _ = self.start(self.tls_and_users(["client_auth_type: RequireAndVerifyClientCert",
                                              "client_ca_file: ca.crt"]))
        work = tempfile.mkdtemp(prefix="vitals-prom-")
        self.addCleanup(shutil.rmtree, work, True)
        with open(os.path.join(work, "password"), "w") as f:
            f.write(PASSWORD)
        port = free_port()
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(textwrap.dedent(f"""\
                global: {{scrape_interval: 1s, scrape_timeout: 900ms}}
                scrape_configs:
                  - job_name: vitals
                    scheme: https
                    basic_auth: {{username: prometheus, password_file: {work}/password}}
                    tls_config:
                      ca_file: {self.path('ca.crt')}
                      cert_file: {self.path('client.crt')}
                      key_file: {self.path('client.key')}
                    static_configs: [{{targets: ["127.0.0.1:{d.port}", "localhost:{d.port}"]}}]
                """))
        log = open(os.path.join(work, "prometheus.log"), "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen([binary, f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)

        def stop():
            proc.terminate()
            proc.wait(timeout=30)
        self.addCleanup(stop)

        def targets_up():
            try:
                q = urllib.parse.urlencode({"query": 'up{job="vitals"}'})
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{q}", timeout=2) as r:
                    result = json.load(r)["data"]["result"]
            except OSError:
                return False
            return len(result) == 2 and all(s["value"][1] == "1" for s in result)

        wait_for(lambda: proc.poll() is not None or targets_up(), limit=90, what="both targets up in Prometheus")
        self.assertIsNone(proc.poll(), "prometheus exited")

    def test_a_renewed_certificate_is_served_and_a_bad_pair_keeps_the_old(self):
        live = tempfile.mkdtemp(prefix="vitals-live-", dir=self.pki.name)
        shutil.copy(self.path("server.crt"), os.path.join(live, "server.crt"))
        shutil.copy(self.path("server.key"), os.path.join(live, "server.key"))
        d, _ = self.start(f"""\
            tls_server_config:
              cert_file: {live}/server.crt
              key_file: {live}/server.key
            """)
        first = fingerprint_of(self.path("server.crt"))
        self.assertEqual(fingerprint_served(d.port), first)

        # A renewal as certbot does it: both files replaced.
        for name in ("server.crt", "server.key"):
            shutil.copy(self.path(name.replace("server", "server-other")), os.path.join(live, name + ".new"))
            os.replace(os.path.join(live, name + ".new"), os.path.join(live, name))
        renewed = fingerprint_of(self.path("server-other.crt"))
        wait_for(lambda: fingerprint_served(d.port) == renewed, limit=30, what="the renewed certificate")

        # Half a renewal: a certificate whose key is not there. (The renewal
        # above may have been seen half done too, and rejected on the way.)
        def rejections():
            return sum(1 for line in d.log() if "web config: changed files rejected" in line)
        before = rejections()
        shutil.copy(self.path("server.crt"), os.path.join(live, "server.crt"))
        wait_for(lambda: rejections() > before, limit=30, what="the rejection")
        self.assertTrue(d.find_log(r"does not belong to the certificate"), "\n".join(d.log()))
        self.assertEqual(fingerprint_served(d.port), renewed, "the previous pair is still served")
        code, _, body, _ = curl(d.base + "/metrics", "--cacert", self.path("ca-other.crt"))
        self.assertEqual(code, 200)
        self.assertEqual(sample(body, "vitals_web_config_last_reload_successful"), 0)

    def test_server_web_config_file_in_the_config_works_too(self):
        d, _ = self.start(self.tls_and_users(), via_flag=False)
        self.assertEqual(curl(d.base + "/metrics", "--cacert", self.path("ca.crt"))[0], 401)

    def test_headers_from_the_web_config_are_sent(self):
        d, _ = self.start("""\
            http_server_config:
              headers:
                X-Frame-Options: sameorigin
                Strict-Transport-Security: max-age=600
            """)
        code, head, _, _ = curl(d.base + "/")
        self.assertEqual(code, 200)
        self.assertRegex(head, r"(?i)x-frame-options: sameorigin")
        self.assertRegex(head, r"(?i)strict-transport-security: max-age=600")
        self.assertRegex(head, r"(?i)content-security-policy: .*frame-ancestors 'none'")

    def test_a_broken_web_config_stops_the_start_with_its_position(self):
        with tempfile.TemporaryDirectory() as d:
            config = os.path.join(d, "vitals.yaml")
            web = os.path.join(d, "web.yml")
            with open(config, "w") as f:
                f.write(CONFIG + f"state: {{path: {d}/state.db}}\n")
            with open(web, "w") as f:
                f.write("tls_server_config:\n  cert_file: a.crt\n  key_fil: a.key\n")
            out = subprocess.run([VITALSD, "run", "-c", config, "--web.config.file", web], capture_output=True,
                                 text=True, timeout=30)
            checked = subprocess.run([VITALSD, "validate", "-c", config, "--web.config.file", web],
                                     capture_output=True, text=True, timeout=30)
            with open(web, "w") as f:
                f.write("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n")
            fixed = subprocess.run([VITALSD, "validate", "-c", config, "--web.config.file", web],
                                   capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn(f"{web}:3:3: tls_server_config.key_fil", out.stderr)
        self.assertIn("key_file", out.stderr)
        self.assertEqual(checked.returncode, 2, "validate checks the web config too")
        self.assertIn(f"{web}:3:3: tls_server_config.key_fil", checked.stderr)
        self.assertEqual(fixed.returncode, 0, fixed.stderr)
        self.assertIn(f"{web}: ok", fixed.stdout)


if __name__ == "__main__":
    unittest.main()
