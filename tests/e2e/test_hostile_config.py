"""Configs written to hurt: each is a clear error at file:line:col, from
`vitalsd validate` and from a running daemon's reload, never a signal, and a
reload never holds the event loop while it parses."""

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from vitals_harness import Daemon, sample, wait_for, VITALSD

GOOD = """\
server: {listen: 127.0.0.1:0, enable_lifecycle: true}
log: {level: info, format: text}
probes:
  - {name: self, type: disk, path: /, interval: 200ms, timeout: 100ms}
"""


def laughs(levels):
    text = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for level in range(1, levels + 1):
        text += f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]\n"
    return text


def rule(expression):
    return f"alerts:\n  rules:\n    - name: Hostile\n      when: {expression}\n"


# name -> (config text, what the error says)
HOSTILE = {
    "alias cycle": ("a: &a [*a]\n", r":1:4: a\[0\]: an alias refers to a node that contains it"),
    "billion laughs": (laughs(8), r":\d+:\d+: .*expands to more than 100000 nodes"),
    "endless secret file": ("probes:\n  - {name: r, type: redis, address: '127.0.0.1:1', "
                            "password: '${file:/dev/zero}'}\n", r":2:\d+: probes\[0\]\.password: .*not a regular file"),
    "nested parentheses": (rule("(" * 10000 + "vitals_probe_up" + ")" * 10000 + " == 0"),
                           r":4:\d+: alerts\.rules\[0\]\.when: expressions nested deeper than 64 levels"),
    "fifty thousand ands": (rule(" and ".join(["vitals_probe_up == 0"] * 50000)),
                            r":4:\d+: alerts\.rules\[0\]\.when: the expression has more than 256 operators"),
    "megabyte metric name": (rule("a" * 1000000 + " > 1"), r":4:13: alerts\.rules\[0\]\.when: unknown metric a+…$"),
    "control characters in a key": ("probes:\n  - {name: x, type: port, port: 1, \"p\\rort\": 1}\n",
                                    r":2:\d+: probes\[0\]\.p\\rort: unknown key"),
    "deep brackets": ("a: " + "[" * 100000 + "\n", r":\d+:\d+: invalid YAML: nested too deeply"),
}


def four_mebibytes_of_list():
    # Just under the 4 MiB cap, past the node limit: the slowest config to
    # refuse, parsed for a few seconds under the sanitizers.
    return "x:\n" + "  - 1\n" * 690000


class ValidateTest(unittest.TestCase):
    def test_every_hostile_config_is_exit_2_with_its_position(self):
        with tempfile.TemporaryDirectory() as tmp:
            for name, (text, error) in HOSTILE.items():
                with self.subTest(name):
                    path = os.path.join(tmp, "x.yaml")
                    with open(path, "w") as f:
                        f.write(text)
                    r = subprocess.run([VITALSD, "validate", "-c", path], capture_output=True, text=True, timeout=120)
                    self.assertEqual(r.returncode, 2, r.stderr[-2000:])
                    first = r.stderr.splitlines()[0]
                    self.assertRegex(first, "^" + re.escape(path) + error)
                    self.assertLess(len(first), 1000)  # one readable line, whatever the input's size


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon(GOOD)
        self.addCleanup(self.d.stop)

    def reload_and_wait(self, text, ok):
        self.d.write_config(text)
        self.d.signal(signal.SIGHUP)
        wait_for(lambda: sample(self.d.metrics(), "vitals_config_last_reload_successful") == (1 if ok else 0),
                 limit=120, what="reload result")

    def test_a_running_daemon_refuses_each_hostile_config_and_keeps_running(self):
        for name, (text, error) in HOSTILE.items():
            with self.subTest(name):
                self.reload_and_wait(text, ok=False)
                self.assertIsNone(self.d.proc.poll(), f"vitalsd died on {name}")
                self.assertTrue(wait_for(lambda: self.d.find_log(r"config: .*vitals\.yaml" + error), limit=10,
                                         what=f"the error for {name}"))
                self.reload_and_wait(GOOD, ok=True)
                self.d.lines.clear()
        self.assertEqual(self.d.get("/-/healthy")[0], 200)

    def test_a_burst_of_reloads_ends_running_the_last_file(self):
        # Reloads asked for while one loads are served by one more load:
        # the file written last is the one that runs, and nothing piles up.
        for _ in range(100):
            self.d.signal(signal.SIGHUP)
        self.d.write_config(GOOD + "  - {name: last, type: disk, path: /tmp, interval: 200ms, timeout: 100ms}\n")
        self.d.signal(signal.SIGHUP)
        wait_for(lambda: sample(self.d.metrics(), "vitals_probe_success", probe="last") is not None, limit=60,
                 what="the probe of the last file")
        self.assertIsNone(self.d.proc.poll())
        self.assertEqual(sample(self.d.metrics(), "vitals_config_last_reload_successful"), 1)

    def test_the_loop_keeps_answering_while_a_reload_parses_for_seconds(self):
        latencies = []
        stop = threading.Event()

        def probe_health():
            while not stop.is_set():
                started = time.monotonic()
                with urllib.request.urlopen(self.d.base + "/-/healthy", timeout=10) as r:
                    r.read()
                latencies.append(time.monotonic() - started)
                time.sleep(0.02)

        self.d.write_config(four_mebibytes_of_list())
        started = time.monotonic()
        self.d.signal(signal.SIGHUP)
        poller = threading.Thread(target=probe_health)
        poller.start()
        try:
            wait_for(lambda: self.d.find_log(r"reload rejected"), limit=120, what="the rejected reload")
        finally:
            stop.set()
            poller.join()
        reload_seconds = time.monotonic() - started
        self.assertGreater(len(latencies), 5, f"reload took {reload_seconds:.2f}s")
        slow = [t for t in latencies if t > 0.1]
        # Before loading moved off the loop, every request waited for the
        # whole parse (seconds). One slow answer is allowed for a busy host.
        self.assertLessEqual(len(slow), 1, f"{len(slow)} of {len(latencies)} answers over 100 ms during a "
                                           f"{reload_seconds:.2f}s reload; slowest {max(latencies) * 1000:.0f} ms")
        self.assertLess(max(latencies), 1.0)
        self.assertTrue(self.d.find_log(r"vitals\.yaml:\d+:\d+: the document has more than 100000 nodes"))


if __name__ == "__main__":
    unittest.main()
