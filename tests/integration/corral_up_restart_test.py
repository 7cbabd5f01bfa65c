#!/usr/bin/python3
"""`corral up` killed with -9, or by SIGHUP (the terminal closed), then run
again on the same work dir: it comes up, and nothing of the first run (master,
agents, DNS, tasks) is left running, as /proc shows.

The parts get SIGTERM when `up` dies; the second `up` starts at once, while
the first run's agents are still stopping their tasks, and must stop them by
their recorded pid and start time before it starts its own. A recorded pid
that now names another process (same pid, other start time) is never killed.

usage: corral_up_restart_test.py /path/to/corral
"""
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from up_test_util import Up, alive, assert_gone, cmdline, descendants, free_port, proc_stat  # noqa


def main():
    corral = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="corral-up-restart-")
    args = ["--demo", "--master-port", str(free_port()), "--dns-port", str(free_port()),
            "--dns-http-port", str(free_port()), "--proxy-http-port", str(free_port()),
            "--proxy-admin-port", str(free_port())]
    decoy = subprocess.Popen(["sleep", "600"])
    runs = []
    try:
        # 1. kill -9, and a new `up` at once.
        first = Up(corral, work, args)
        runs.append(first)
        first.wait_banner()
        tree = descendants(first.proc.pid)
        names = [" ".join(cmdline(p)[1:2]) for p in tree]
        for part in ("master", "agent", "dns", "demo-server"):
            assert part in names, f"{part} not among {names}"
        first.proc.kill()
        first.proc.wait()
        # A record naming a live process by a pid with another start time: a reused pid.
        with open(os.path.join(work, "up.pids"), "a") as f:
            f.write(f"decoy {decoy.pid} {proc_stat(decoy.pid)[2] + 1}\n")

        second = Up(corral, work, args)
        runs.append(second)
        second.wait_banner()
        assert "of an earlier corral up" in second.output(), second.output()
        assert_gone(tree, "after kill -9 of corral up and a new corral up on its work dir")
        assert decoy.poll() is None, "a process with a recorded pid but another start time was killed"

        # 2. SIGHUP stops `up` like SIGTERM, and the next `up` comes up.
        tree = descendants(second.proc.pid)
        second.stop(signal.SIGHUP)
        assert_gone(tree, "after SIGHUP of corral up")
        third = Up(corral, work, args)
        runs.append(third)
        third.wait_banner()
        tree = descendants(third.proc.pid)
        third.stop(signal.SIGINT)
        assert_gone(tree, "after SIGINT of corral up")

        # 3. kill -9 alone: the parts stop by themselves (they get SIGTERM when `up` dies).
        fourth = Up(corral, work, args)
        runs.append(fourth)
        fourth.wait_banner()
        tree = descendants(fourth.proc.pid)
        fourth.proc.kill()
        fourth.proc.wait()
        assert_gone(tree, "after kill -9 of corral up (no new corral up)", timeout=30)
    except Exception:
        for r in runs:
            r.dump()
        raise
    finally:
        for r in runs:
            if r.proc.poll() is None:
                r.stop()
        decoy.kill()
    print("ok")


if __name__ == "__main__":
    main()
