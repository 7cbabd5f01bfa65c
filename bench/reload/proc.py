"""/proc readings for the systems under test: process trees, CPU and memory."""

from __future__ import annotations

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()  # rest[0] is field 3 (state)


_HAS_CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def tree(root: int) -> list[int]:
    """root and all its live descendants (empty when root is gone).

    Walks /proc/<pid>/task/<tid>/children from root: the sampler calls this 20
    times a second on the load core, where reading every process's stat took
    ~3 ms a call (6 % of the core, in slices that delayed the backends)."""
    if not _HAS_CHILDREN_FILES:
        return _tree_by_scan(root)
    out, pending = [], [root]
    while pending and len(out) < 100000:
        p = pending.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue  # gone meanwhile
        out.append(p)
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    pending.extend(int(c) for c in f.read().split())
            except (OSError, ValueError):
                continue
    return out


def _tree_by_scan(root: int) -> list[int]:
    """tree() where the kernel has no children files: every process's parent."""
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parents[int(d)] = int(_stat(int(d))[1])
            except (OSError, ValueError, IndexError):
                continue
    if root not in parents:
        return []
    out, pending = [], [root]
    while pending and len(out) < 100000:
        p = pending.pop()
        out.append(p)
        pending.extend(c for c, pp in parents.items() if pp == p)
    return out


def state(pid: int) -> str:
    """The process's state letter (R running, S sleeping, Z zombie, ...), "" when gone."""
    try:
        return _stat(pid)[0]
    except (OSError, IndexError):
        return ""


def cpu_seconds(pids) -> float:
    """utime+stime of pids, plus cutime+cstime (their reaped children: an old
    nginx or HAProxy worker's CPU counts after it exits). Call with the same
    tree before and after a phase and subtract."""
    total = 0
    for p in pids:
        try:
            r = _stat(p)
            total += int(r[11]) + int(r[12]) + int(r[13]) + int(r[14])
        except (OSError, ValueError, IndexError):
            continue
    return total / CLK_TCK


def memory_kib(pids) -> int:
    """Proportional set size (Pss, so pages a master shares with its workers
    count once) of pids, in KiB; RSS where smaps_rollup cannot be read."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            continue
        except OSError:
            pass
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total
