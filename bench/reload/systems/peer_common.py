"""What the HAProxy and nginx adapters share: the route model kept in step with
the running configuration, a controller thread that coalesces event batches
into as few reloads as it can, and process plumbing (pinned children, their
CPU, the live process tree, routing checks by HTTP).

Both peers reload whole configurations, so their controller is the same loop:
take every batch queued so far, fold it into the model, then make the proxy
match the model (runtime commands where the peer has them, else render +
check + reload). Batches that arrive while a reload runs wait and are folded
into the next one, which is how their operators' tooling (marathon-lb,
consul-template, ingress controllers) coalesces changes.
"""

from __future__ import annotations

import http.client
import os
import queue
import resource
import signal
import subprocess
import threading
import time

from bench.reload import httpprobe, proc
from bench.reload.catalog import AddRoute, RemoveRoute, Replace, Route, Upgrade, apply_event
from bench.reload.systems.base import System


def children_of(pid: int) -> list[int]:
    """Direct children of pid, from /proc (old workers still draining included)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command, which may hold spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(name))
    return sorted(out)


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def hard_fd_limit() -> int:
    """The descriptor budget both peers size their connection limits from."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


_child_cpu_lock = threading.Lock()


def run_pinned(cmd: list[str], cpu: int, timeout: float) -> tuple[int, str, float]:
    """Run a short-lived tool (haproxy -c, nginx -t) on the proxy's core: its CPU is
    the proxy side's cost of a change. Returns (exit code, output, CPU seconds),
    the CPU from this process's reaped-children rusage around the run (locked, so
    two runs at once cannot blur it)."""
    with _child_cpu_lock:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.Popen(proc.pinned(cpu, "system", cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise RuntimeError(f"{cmd[0]} did not finish in {timeout:.0f} s")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.returncode, out.decode(errors="replace"), used


def http_get(port: int, host: str, path: str, timeout: float = 2.0) -> tuple[int, str]:
    """One request to the proxy: (status, X-Backend or "")."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, "Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("X-Backend", "")
    finally:
        conn.close()


def sample_routes(routes: list, n: int = 24) -> list:
    """A spread of routes to verify: first, last, evenly spaced, and path routes."""
    if len(routes) <= n:
        return list(routes)
    step = len(routes) / n
    picked = [routes[int(i * step)] for i in range(n)] + [routes[-1]]
    picked += [r for r in routes[:40] if r.path != "/"][:4]
    return picked


def verify_routing(port: int, routes: list, deadline_s: float, what: str) -> None:
    """Block until sampled routes answer via their own backends, or raise."""
    pending = sample_routes(routes)
    end = time.monotonic() + deadline_s
    while pending:
        pending = [r for r in pending if not httpprobe.serves(port, r)]
        if not pending:
            return
        if time.monotonic() > end:
            r = pending[0]
            try:
                got = http_get(port, r.vhost, r.probe_path())
            except OSError as e:
                got = repr(e)
            raise RuntimeError(
                f"{what}: {len(pending)} sampled routes do not answer via their backends, e.g. "
                f"{r.vhost}{r.path} -> {got}, want one of {[b.header() for b in r.backends]}"
            )
        time.sleep(0.05)


def stop_tree(master_pid: int, popen: subprocess.Popen, graceful: int, wait_s: float = 10.0) -> None:
    """Stop a master and its workers: a graceful signal to the master, then SIGKILL
    to whatever of the tree remains after wait_s. Only pids of this tree are touched."""
    tree = [master_pid] + children_of(master_pid)
    try:
        os.kill(master_pid, graceful)
    except ProcessLookupError:
        pass
    end = time.monotonic() + wait_s
    # The master may not be popen's process (nginx's binary upgrade leaves a new
    # master that the old one started): wait for the pid itself, reaping popen.
    while time.monotonic() < end and (alive(master_pid) or popen.poll() is None):
        if popen.poll() is not None and not alive(master_pid):
            break
        time.sleep(0.05)
    tree += [p for p in children_of(master_pid) if p not in tree]
    for pid in tree:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def copy_route(r):
    return Route(r.app_id, r.vhost, r.path, list(r.backends))


class Controller:
    """The event loop of a reloading peer, on its own thread.

    apply() only queues a batch. The thread takes everything queued, folds it into
    the model, and calls sync(replaces, structural) on the adapter: replaces are
    (app_id, slot index, new Backend) for the Replace events of the batch whose
    route the running proxy already has;
    structural is True when the rendered configuration must change; upgrade is True
    when the batch asks for a new process generation (an Upgrade event). An error
    stops the controller and is raised by the next apply() or by wait_idle().
    upgrade_seconds holds, per Upgrade event, the time from its submission until
    the sync that carried it out returned (the new generation serves)."""

    def __init__(self, name: str, routes: list, sync):
        self.name = name
        # Own copies: the harness may mutate its Route objects with the same events.
        self.routes_by_id = {r.app_id: copy_route(r) for r in routes}
        self.lock = threading.Lock()  # guards routes_by_id against render vs. apply
        self._sync = sync
        self._queue: queue.Queue = queue.Queue()
        self._busy = False
        self._idle = threading.Condition()
        self._error: BaseException | None = None
        self._stopping = False
        self.batches = 0
        self.syncs = 0
        self.upgrade_seconds: list[float] = []
        self._upgrade_submitted: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, name=f"{name}-controller", daemon=True)
        self._thread.start()

    def submit(self, events: list) -> None:
        if self._error is not None:
            raise RuntimeError(f"{self.name} controller failed: {self._error}") from self._error
        with self._idle:
            self._busy = True
            now = time.monotonic()
            for ev in events:
                if isinstance(ev, Upgrade):
                    self._upgrade_submitted[id(ev)] = now
        self._queue.put(list(events))

    def check(self) -> None:
        """Raise the controller's error, if it stopped on one."""
        if self._error is not None:
            raise RuntimeError(f"{self.name} controller failed: {self._error}") from self._error

    def wait_idle(self, timeout: float) -> None:
        """Block until every submitted batch is in the running proxy (or raise)."""
        end = time.monotonic() + timeout
        with self._idle:
            while (self._busy or not self._queue.empty()) and self._error is None:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: changes not applied within {timeout:.0f} s")
                self._idle.wait(left)
        if self._error is not None:
            raise RuntimeError(f"{self.name} controller failed: {self._error}") from self._error

    def close(self) -> None:
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout=300)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None or self._stopping:
                return
            events = list(first)
            # Coalesce: everything that queued up while the last sync ran.
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._stopping = True
                    break
                events += more
                self.batches += 1
            self.batches += 1
            try:
                with self.lock:
                    known = set(self.routes_by_id)
                    replaces, structural, upgrade = [], False, False
                    for ev in events:
                        if isinstance(ev, Upgrade):
                            upgrade = True
                            continue
                        if isinstance(ev, Replace):
                            # A route added in this same batch is not in the running proxy yet;
                            # the slot is the backend's index (renders keep the model's order).
                            route = self.routes_by_id[ev.app_id]
                            if ev.app_id in known and ev.old in route.backends:
                                replaces.append((ev.app_id, route.backends.index(ev.old), ev.new))
                        elif isinstance(ev, AddRoute):
                            structural = True
                            known.discard(ev.route.app_id)
                            ev = AddRoute(copy_route(ev.route))
                        elif isinstance(ev, RemoveRoute):
                            structural = True
                            known.discard(ev.app_id)
                        else:
                            raise TypeError(f"unknown event {ev!r}")
                        apply_event(self.routes_by_id, ev)
                self._sync(replaces, structural, upgrade)
                self.syncs += 1
                done = time.monotonic()
                with self._idle:
                    for ev in events:
                        if isinstance(ev, Upgrade):
                            self.upgrade_seconds.append(done - self._upgrade_submitted.pop(id(ev), done))
            except BaseException as e:  # surfaced to the harness by submit()/wait_idle()
                self._error = e
            with self._idle:
                if self._queue.empty():
                    self._busy = False
                self._idle.notify_all()
            if self._stopping or self._error is not None:
                return


class MasterWorkerPeer(System):
    """What the HAProxy and nginx adapters share: a master process (`popen`,
    `master_pid`) with workers of one or more generations, and a Controller
    (`ctl`) that applies submitted batches in its own thread."""

    ctl = None
    popen = None
    master_pid = 0

    def apply(self, events: list) -> None:
        self.ctl.submit(events)

    def wait_idle(self, timeout: float = 600) -> None:
        """Block until every submitted change is in the running proxy (for tests)."""
        self.ctl.wait_idle(timeout)

    def upgrade_seconds(self) -> list[float]:
        return list(self.ctl.upgrade_seconds) if self.ctl is not None else []

    def config_load_seconds(self) -> float | None:
        """The longest configuration load (check + reload, or start) seen so far:
        what one more reload will cost."""
        loads = [p.get("total_s", 0.0) for p in getattr(self, "reloads", [])]
        start = getattr(self, "start_phases", None)
        if start:
            loads.append(start.get("total_s", 0.0))
        return max(loads) if loads else None

    def pids(self) -> list[int]:
        if not self.master_pid or not alive(self.master_pid):
            return []
        return [self.master_pid] + children_of(self.master_pid)

    def stop(self) -> None:
        if self.ctl is not None:
            self.ctl.close()
        if self.popen is not None and (self.popen.poll() is None or alive(self.master_pid)):
            # SIGTERM to the master: both stop every worker at once, old
            # generations included. (nginx's master is not popen's process: it
            # runs daemonized so that its binary upgrade works.)
            stop_tree(self.master_pid, self.popen, signal.SIGTERM)
        self.popen = None
