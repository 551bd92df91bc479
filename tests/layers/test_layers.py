"""Dependencies run one way: no source includes a header of a layer above its own.

The layers, lowest first, are the ones docs/architecture.md draws. Folders on
one floor (the probe kinds; state and notify) do not include each other
either. The build enforces the same through what each library links; this
test keeps the includes honest too, so a header-only upward edge cannot
slip in.
"""

import os
import re
import unittest

SOURCE_DIR = os.environ.get(
    "VITALS_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

# (floor, room): a room may include rooms on lower floors and itself.
# Every folder under probes/ but the two foundations is a probe kind.
PROBE_KINDS = sorted(d for d in os.listdir(os.path.join(SOURCE_DIR, "probes"))
                     if os.path.isdir(os.path.join(SOURCE_DIR, "probes", d)) and d not in ("core", "net"))
ROOMS = {
    "probes/core": 0,
    "probes/net": 1,
    **{f"probes/{kind}": 2 for kind in PROBE_KINDS},
    "probes": 3,  # register_probes.cpp: the one list of kinds
    "daemon/sched": 4,
    "daemon/metrics": 5,
    "daemon/alerts": 6,
    "daemon/state": 7,
    "daemon/notify": 7,
    "daemon/server": 8,
    "daemon/app": 9,
    "daemon/cli": 10,
    "daemon": 11,  # main.cpp
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def room_of(path):
    """The room a source path belongs to: its folder, or the nearest listed parent."""
    folder = os.path.dirname(path)
    while folder and folder not in ROOMS:
        folder = os.path.dirname(folder)
    return folder if folder in ROOMS else None


def sources():
    """(path from the source root, text) of every C++ source of the daemon and probes."""
    for top in ("probes", "daemon"):
        for root, _, files in os.walk(os.path.join(SOURCE_DIR, top)):
            for name in files:
                if name.endswith((".cpp", ".hpp")):
                    full = os.path.join(root, name)
                    with open(full, encoding="utf-8") as f:
                        yield os.path.relpath(full, SOURCE_DIR), f.read()


def upward_edges(files):
    """Every include that runs from a room to one above it or beside it."""
    bad = []
    for rel, text in files:
        src = room_of(rel)
        for header in INCLUDE.findall(text):
            dst = room_of(header)
            if dst is None or dst == src:
                continue
            if ROOMS[dst] >= ROOMS[src]:
                bad.append(f"{rel} ({src}) includes {header} ({dst})")
    return bad


class layers(unittest.TestCase):
    def test_every_source_is_in_a_known_room(self):
        stray = [rel for rel, _ in sources() if room_of(rel) is None]
        self.assertEqual(stray, [], "sources outside the layers: add the folder to ROOMS and docs/architecture.md")

    def test_no_include_runs_up_or_sideways(self):
        self.assertEqual(upward_edges(sources()), [])

    def test_no_probe_source_includes_a_daemon_header(self):
        edges = [e for e in upward_edges(sources()) if e.startswith("probes/") and " includes daemon/" in e]
        self.assertEqual(edges, [])

    def test_upward_and_sideways_includes_are_found(self):
        tree = [
            ("daemon/sched/scheduler.hpp", '#include "daemon/alerts/alert_engine.hpp"\n'),  # up
            ("probes/port/port_probe.cpp", '#include "probes/redis/redis_probe.hpp"\n'),  # sideways
            ("daemon/state/state_keeper.cpp", '#include "daemon/notify/notifier.hpp"\n'),  # sideways
            ("probes/http/http_probe.cpp", '#include "daemon/app/config.hpp"\n'),  # a probe into the daemon
            ("daemon/server/routes.cpp", '#include "daemon/state/state_store.hpp"\n#include "probes/core/probe.hpp"\n'),
        ]
        found = upward_edges(tree)
        self.assertEqual(len(found), 4, found)
        self.assertIn("port", PROBE_KINDS)
        self.assertNotIn("core", PROBE_KINDS)
        self.assertFalse(any(e.startswith("daemon/server/") for e in found))


if __name__ == "__main__":
    unittest.main()
