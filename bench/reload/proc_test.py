#!/usr/bin/python3
"""Tests of bench/reload/proc.py: where and at what priority the benchmark's
processes run, and the shield of the system's core."""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bench.reload import proc  # noqa: E402


class PinnedTest(unittest.TestCase):
    def test_every_role_is_pinned_to_its_core(self):
        for role in ("system", "backend", "load"):
            cmd = proc.pinned(1, role, ["true"])
            self.assertEqual(cmd[:3], ["taskset", "-c", "1"], role)
            self.assertEqual(cmd[-1], "true", role)

    def test_a_system_runs_at_nice_0_whatever_the_driver_runs_at(self):
        out = subprocess.run(proc.pinned(0, "system", ["sh", "-c", "cut -d' ' -f19 /proc/$$/stat"]),
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(out.strip(), "0")

    def test_an_unknown_role_is_an_error(self):
        with self.assertRaises(KeyError):
            proc.pinned(0, "nobody", ["true"])


@unittest.skipUnless(len(os.sched_getaffinity(0)) >= 2, "needs two CPUs")
class ShieldTest(unittest.TestCase):
    def test_shield_moves_a_process_off_the_core_and_unshield_brings_it_back(self):
        cpus = sorted(os.sched_getaffinity(0))
        child = subprocess.Popen(["sleep", "30"])
        try:
            before = os.sched_getaffinity(child.pid)
            moved = proc.shield(cpus[0], pids=[child.pid])
            self.assertEqual([tid for tid, _ in moved], [child.pid])
            self.assertNotIn(cpus[0], os.sched_getaffinity(child.pid))
            proc.unshield(moved)
            self.assertEqual(os.sched_getaffinity(child.pid), before)
        finally:
            child.kill()
            child.wait()

    def test_a_process_pinned_to_the_core_alone_stays(self):
        cpus = sorted(os.sched_getaffinity(0))
        child = subprocess.Popen(["taskset", "-c", str(cpus[0]), "sleep", "30"])
        try:
            for _ in range(500):  # taskset execs sleep once it has set the affinity
                with open(f"/proc/{child.pid}/comm") as f:
                    if f.read().strip() == "sleep":
                        break
                time.sleep(0.01)
            self.assertEqual(proc.shield(cpus[0], pids=[child.pid]), [])
            self.assertEqual(os.sched_getaffinity(child.pid), {cpus[0]})
        finally:
            child.kill()
            child.wait()

    def test_a_gone_process_is_skipped(self):
        child = subprocess.Popen(["true"])
        child.wait()
        self.assertEqual(proc.shield(0, pids=[child.pid]), [])


class StealTest(unittest.TestCase):
    def test_one_figure_per_core(self):
        ticks = proc.steal_ticks()
        self.assertEqual(len(ticks), os.cpu_count())
        self.assertTrue(all(t >= 0 for t in ticks))


if __name__ == "__main__":
    unittest.main()
