"""`vitalsd rules` prints a rule file Prometheus's own promtool accepts."""

import os
import shutil
import subprocess
import tempfile
import textwrap
import unittest

from vitals_harness import VITALSD


class RulesTest(unittest.TestCase):
    def rules_of(self, config_text):
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-rules-")
        self.addCleanup(work.cleanup)
        config = os.path.join(work.name, "vitals.yaml")
        with open(config, "w") as f:
            f.write(config_text)
        done = subprocess.run([VITALSD, "rules", "-c", config], capture_output=True, text=True, timeout=30)
        rules = os.path.join(work.name, "rules.yml")
        with open(rules, "w") as f:
            f.write(done.stdout)
        return done, rules

    def test_builtin_and_user_rules_pass_promtool(self):
        self.assertIsNotNone(shutil.which("promtool"), "promtool comes with the prometheus package")
        done, rules = self.rules_of(textwrap.dedent("""\
            probes:
              - {name: cache, type: redis, address: 127.0.0.1:6379}
            alerts:
              builtin:
                DiskSpaceLow: {threshold: 0.1, for: 10m}
              rules:
                - name: CacheNearlyFull
                  when: vitals_redis_memory_utilization_ratio{probe="cache", limit=~"maxmemory|cgroup"} > 0.95 and on(probe) vitals_probe_up == 1
                  for: 1m
                  keep_firing_for: 2m
                  severity: critical
                  labels: {team: platform}
                  summary: "Redis {{ $labels.probe }} at {{ $value | humanizePercentage }}"
                  runbook_url: https://wiki.example/redis-memory
            """))
        self.assertEqual(done.returncode, 0, done.stderr)
        check = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("SUCCESS: 18 rules found", check.stdout)

    def test_a_broken_rule_is_a_config_error_with_its_position(self):
        done, _ = self.rules_of(textwrap.dedent("""\
            alerts:
              rules:
                - name: Broken
                  when: vitals_probe_up = 0
            """))
        self.assertEqual(done.returncode, 2)
        self.assertIn("vitals.yaml:4:29: alerts.rules[0].when: use == to compare", done.stderr)


if __name__ == "__main__":
    unittest.main()
