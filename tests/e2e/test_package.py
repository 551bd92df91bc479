"""The Debian package built from the test's own build tree: its control data
(Depends, conffiles, maintainer scripts), the tree it unpacks, and that the
packaged binary accepts the packaged configuration."""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from vitals_harness import VITALSD

SOURCE_DIR = os.environ.get("VITALS_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))

# Runtime libraries the binary must pull in (package name prefixes: the
# exact names carry versions, e.g. libprometheus-cpp-core1.0).
REQUIRED_DEPENDS = ["libsqlite3-0", "libpq5", "libhiredis0.14", "libyaml-cpp0.7", "libssl3",
                    "libprometheus-cpp-core", "libspdlog1.10", "libboost-json1.81.0", "libboost-url1.81.0"]


def build_dir_of(binary):
    """The CMake build tree holding the binary: the nearest parent with a CMakeCache.txt."""
    d = os.path.dirname(os.path.realpath(binary))
    while d != os.path.dirname(d):
        if os.path.exists(os.path.join(d, "CMakeCache.txt")):
            return d
        d = os.path.dirname(d)
    return None


def tool(name, package):
    """The path of a tool the test needs. scripts/install-deps installs each
    (cmake; dpkg-dev through build-essential; dpkg is essential), so one
    missing is a broken test setup: a failure, never a skip."""
    path = shutil.which(name)
    assert path, f"{name} not found: Debian package {package}, installed by scripts/install-deps"
    return path


def files_under(root):
    out = set()
    for dirpath, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def read(path):
    with open(path) as f:
        return f.read()


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cpack = tool("cpack", "cmake")
        cls.dpkg_deb = tool("dpkg-deb", "dpkg")
        tool("dpkg-shlibdeps", "dpkg-dev")
        cls.build = build_dir_of(VITALSD)
        assert cls.build, f"no CMake build tree above {VITALSD}"
        config = os.path.join(cls.build, "CPackConfig.cmake")
        assert os.path.exists(config), (
            f"{config} is missing: the top-level CMakeLists.txt must include(cmake/Install.cmake) "
            "(then re-run cmake)")

        cls.tmp = tempfile.TemporaryDirectory(prefix="vitals-pkg-")
        out = os.path.join(cls.tmp.name, "out")
        r = subprocess.run([cls.cpack, "--config", config, "-G", "DEB", "-B", out],
                           capture_output=True, text=True, timeout=240, cwd=cls.tmp.name)
        debs = [f for f in os.listdir(out) if f.endswith(".deb")] if os.path.isdir(out) else []
        assert r.returncode == 0 and len(debs) == 1, f"cpack failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        cls.deb = os.path.join(out, debs[0])

        cls.root = os.path.join(cls.tmp.name, "root")
        subprocess.run(["dpkg", "-x", cls.deb, cls.root], check=True, timeout=60)
        cls.control = os.path.join(cls.tmp.name, "control")
        subprocess.run([cls.dpkg_deb, "-e", cls.deb, cls.control], check=True, timeout=60)
        cls.fields = cls._fields(subprocess.run([cls.dpkg_deb, "-f", cls.deb], capture_output=True,
                                                text=True, check=True).stdout)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "tmp"):
            cls.tmp.cleanup()

    @staticmethod
    def _fields(text):
        fields, key = {}, None
        for line in text.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        return fields

    def path(self, rel):
        return os.path.join(self.root, rel)

    def assertInPackage(self, rel):
        self.assertTrue(os.path.isfile(self.path(rel)), f"{rel} is not in the package")

    def test_name_version_and_depends(self):
        self.assertEqual(self.fields["Package"], "vitals")
        m = re.search(r"project\(vitals VERSION (\S+)", read(os.path.join(SOURCE_DIR, "CMakeLists.txt")))
        self.assertTrue(self.fields["Version"].startswith(m.group(1)), self.fields["Version"])
        depends = [d.strip() for d in self.fields.get("Depends", "").split(",")]
        names = [re.split(r"[\s(|]", d)[0] for d in depends]
        for lib in REQUIRED_DEPENDS:
            self.assertTrue(any(n.startswith(lib) for n in names), f"Depends lacks {lib}: {depends}")
        # Someone has to create the vitals user.
        self.assertTrue(any("systemd" in d or "adduser" in d for d in depends), depends)

    def test_dpkg_deb_info_lists_depends_and_conffiles(self):
        info = subprocess.run([self.dpkg_deb, "-I", self.deb], capture_output=True, text=True,
                              check=True).stdout
        self.assertRegex(info, r"(?m)^ Depends: .*libsqlite3-0")
        self.assertRegex(info, r"(?m)^\s+\d+ bytes,\s+\d+ lines\s+conffiles")
        conffiles = subprocess.run([self.dpkg_deb, "-I", self.deb, "conffiles"], capture_output=True,
                                   text=True, check=True).stdout.split()
        self.assertEqual(conffiles, ["/etc/vitals/vitals.yaml"])

    def test_maintainer_scripts(self):
        for name in ("postinst", "prerm", "postrm"):
            script = os.path.join(self.control, name)
            self.assertTrue(os.path.isfile(script), f"no {name} in the package")
            mode = stat.S_IMODE(os.stat(script).st_mode)
            self.assertEqual(mode, 0o755, f"{name} has mode {oct(mode)}")
            r = subprocess.run(["sh", "-n", script], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")
            self.assertEqual(read(script), read(os.path.join(SOURCE_DIR, "packaging", "deb", name)))
        postinst = read(os.path.join(self.control, "postinst"))
        self.assertIn("systemd-sysusers", postinst)
        self.assertIn("[ -d /run/systemd/system ]", postinst)
        self.assertIn("rm -rf /var/lib/vitals", read(os.path.join(self.control, "postrm")))

    def test_binary_unit_sysusers_and_config(self):
        binary = self.path("usr/bin/vitalsd")
        self.assertTrue(os.access(binary, os.X_OK), "usr/bin/vitalsd missing or not executable")
        unit = read(self.path("usr/lib/systemd/system/vitalsd.service"))
        self.assertIn("\nExecStart=/usr/bin/vitalsd run -c /etc/vitals/vitals.yaml\n", unit)
        self.assertIn("\nType=notify\n", unit)
        self.assertEqual(read(self.path("usr/lib/sysusers.d/vitals.conf")),
                         read(os.path.join(SOURCE_DIR, "systemd", "vitals.sysusers")))
        self.assertEqual(read(self.path("etc/vitals/vitals.yaml")),
                         read(os.path.join(SOURCE_DIR, "config", "vitals.yaml")))

    def test_packaged_binary_validates_packaged_config(self):
        r = subprocess.run([self.path("usr/bin/vitalsd"), "validate", "-c", self.path("etc/vitals/vitals.yaml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"validate failed:\n{r.stdout}{r.stderr}")
        r = subprocess.run([self.path("usr/bin/vitalsd"), "--version"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_docs_installed(self):
        doc = "usr/share/doc/vitals"
        self.assertInPackage(f"{doc}/README.md")
        self.assertInPackage(f"{doc}/operations.md")
        self.assertInPackage(f"{doc}/configuration.md")
        self.assertInPackage(f"{doc}/examples/owner-lookup.conf.example")
        # Every file under docs/ lands under /usr/share/doc/vitals/, same layout.
        missing = files_under(os.path.join(SOURCE_DIR, "docs")) - files_under(self.path(doc))
        self.assertEqual(missing, set(), "docs/ files not in the package")

    def test_runbooks_installed_beside_the_ones_the_daemon_serves(self):
        # The daemon serves its runbooks itself (/runbooks/NAME, built in);
        # the package installs the same files for reading on the host.
        # The runbooks are the project's own files: one missing from the
        # source tree is as much a failure as one missing from the package.
        self.assertTrue(os.path.isfile(os.path.join(SOURCE_DIR, "docs", "runbooks", "ProbeDown.md")),
                        "docs/runbooks/ProbeDown.md is missing from the source tree")
        self.assertInPackage("usr/share/doc/vitals/runbooks/ProbeDown.md")

    def test_grafana_and_prometheus_files(self):
        for sub in ("grafana", "prometheus"):
            with self.subTest(sub):
                source = os.path.join(SOURCE_DIR, "config", sub)
                self.assertTrue(os.path.isdir(source), f"config/{sub}/ is missing from the source tree")
                wanted = files_under(source)
                self.assertTrue(wanted, f"config/{sub}/ is empty")
                self.assertEqual(wanted - files_under(self.path(f"usr/share/vitals/{sub}")), set())


if __name__ == "__main__":
    unittest.main()
