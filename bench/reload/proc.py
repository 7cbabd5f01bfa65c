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


def steal_ticks() -> list[int]:
    """Per core, the clock ticks the hypervisor ran something else while this
    VM's core wanted to run (/proc/stat "steal"; zeros on bare metal)."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                fields = line.split()
                out.append(int(fields[8]) if len(fields) > 8 else 0)
    return out


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


# What runs where, and at what priority, on the benchmark's two cores. The
# driver (run.py) runs at nice -10 so that a change is handed over on time, and
# every process it starts would inherit that; so each is started through
# pinned(), which sets its own:
#   "system"  the proxy under test (and its configuration checks): nice 0, as
#             it would run in production, on its own core;
#   "backend" the backend tasks: real-time (SCHED_FIFO 1, as reload_load sets
#             itself), because on the shared load core they answer every
#             system's requests, and a backend waiting for the core behind the
#             two wrk processes showed as 8-30 ms stalls of every proxy's
#             traffic, far above what the benchmark must judge;
#   "load"    wrk, the background load: nice 0, it takes what is left.
_ROLE_NICE = {"system": 0, "backend": -10, "load": 0}


def pinned(cpu: int, role: str, cmd: list[str]) -> list[str]:
    """cmd run on core `cpu` at the priority of `role` (see above)."""
    prefix = ["taskset", "-c", str(cpu)]
    if role == "backend" and os.geteuid() == 0:
        return prefix + ["chrt", "-f", "1"] + cmd
    delta = _ROLE_NICE[role] - os.getpriority(os.PRIO_PROCESS, 0)
    if delta < 0 and os.geteuid() != 0:
        delta = 0  # unprivileged: as inherited
    return prefix + (["nice", "-n", str(delta)] if delta else []) + cmd


_PF_KTHREAD = 0x00200000  # /proc/<pid>/stat flags: a kernel thread (per-CPU ones cannot move)


def shield(cpu: int, pids=None) -> list[tuple[int, set[int]]]:
    """Moves every other user-space thread that may run on `cpu` off it, for
    the benchmark's duration, as `cset shield` would: the system under test
    gets its core to itself. Returns [(tid, affinity before)] for unshield().

    Why: on the VMs of docs/reload/HISTORY.md (fifth run) the VM's own agent (pid 1, nice -10)
    runs ~8 ms about once a second on either core; on the proxy's core it
    took the core from the proxy (nice 0) for that long, and that was the
    periodic stall in every system's probe p99. On the load core, reload_load
    and the backends (real-time) preempt it at once. Threads pinned to `cpu`
    alone, and kernel threads, are left as they are; threads a shielded
    process starts meanwhile inherit its shielded affinity. `pids` limits it
    to those processes (tests)."""
    moved = []
    own = os.getpid()
    for d in [str(p) for p in pids] if pids is not None else os.listdir("/proc"):
        if not d.isdigit() or int(d) == own:
            continue
        try:
            if int(_stat(int(d))[6]) & _PF_KTHREAD:
                continue
            tids = [int(t) for t in os.listdir(f"/proc/{d}/task")]
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        for tid in tids:
            try:
                before = os.sched_getaffinity(tid)
                if cpu in before and len(before) > 1:
                    os.sched_setaffinity(tid, before - {cpu})
                    moved.append((tid, before))
            except OSError:
                continue  # gone, or not ours to move (unprivileged)
    return moved


def unshield(moved: list[tuple[int, set[int]]]) -> None:
    """Gives the threads shield() moved their affinity back."""
    for tid, before in moved:
        try:
            os.sched_setaffinity(tid, before)
        except OSError:
            continue  # gone meanwhile
