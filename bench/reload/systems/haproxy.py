"""HAProxy 2.6 under the reload benchmark, run the way its documentation advises
for a configuration that changes under load.

* Master-worker mode (`-W -S master.sock`): the master re-executes itself on the
  master CLI `reload` command, forks a new worker and soft-stops the old ones,
  which keep serving their open connections until they end or `hard-stop-after`.
* Seamless reload: the stats socket has `expose-fd listeners`, so the new worker
  takes the listening sockets over from the old one (the master passes -x itself)
  instead of binding new ones: no connection is refused during a reload.
* `haproxy -c` on every rendered configuration before it replaces the running one.
* Routing for 100k routes without 100k ACLs: exact-match map lookups (ebtree,
  O(log n)): first "host/<first path segment>/" for path routes, then "host/"
  for the vhost's root route; `use_backend %[var(txn.be)]` picks the backend by
  name (also a tree lookup).
* One backend per route with one server line per task. Task replacement (the
  common event) needs no reload: the Runtime API moves the server slot to the
  new address (`set server <be>/<srv> addr <ip> port <port>`, between `state
  maint` and `state ready` so that its idle connections to the old address are
  purged rather than reused), sent through the
  master CLI to the current worker (`@1`), so it can never reach an old worker
  that is still draining. The configuration is rendered from the model (which
  the Runtime API changes are folded into) before each reload, so a reload never
  resurrects a replaced server; no server-state file is needed for that.
  Spare disabled slots are not rendered: HAProxy 2.6 grows a backend at runtime
  with `add server`, so slots would only cost memory (a server is a few KB).
* Route add and remove change the set of backends, which HAProxy 2.6 can only do
  by reloading: render + check + master-CLI reload, with every batch that queued
  up during a reload coalesced into the next one.
* Tuning: one thread (nbthread 1) pinned with taskset, keep-alive both sides,
  `http-reuse always`, `option redispatch` with retries, maxconn for thousands
  of long-lived connections, `timeout tunnel` for WebSockets, no logging.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time

from bench.reload import proc
from bench.reload.systems.peer_common import (
    Controller,
    MasterWorkerPeer,
    hard_fd_limit,
    run_pinned,
    verify_routing,
)

HAPROXY = "/usr/sbin/haproxy"


def backend_name(app_id: str) -> str:
    return "be_" + app_id.strip("/").replace("/", "_")


def map_key(route) -> str:
    # Keys match the lookups in the frontend: "host/" or "host/<segment>/".
    return route.vhost.lower() + route.path


def check_path(route) -> None:
    # The frontend looks up whole first segments ("/p3/"); say so if a route
    # asks for anything the lookup cannot express.
    if route.path != "/" and not re.fullmatch(r"/[^/]+/", route.path):
        raise ValueError(f"haproxy adapter routes '/' or one-segment prefixes like '/p3/', not {route.path!r}")


class HAProxy(MasterWorkerPeer):
    name = "haproxy"

    def __init__(
        self,
        work_dir: str,
        http_port: int,
        cpu: int,
        corral_bin: str,
        drain_timeout_s: float = 30.0,
        max_reloads: int = 50,
        start_timeout_s: float = 900.0,
    ):
        """drain_timeout_s: hard-stop-after, the bound on how long an old worker
        keeps its connections (corral's --drain-timeout default is the same 30 s);
        max_reloads: mworker-max-reloads, the bound on how many generations of old
        workers may pile up when reloads come faster than they drain;
        start_timeout_s: the bound on one configuration load (check or reload)."""
        super().__init__(work_dir, http_port, cpu, corral_bin)
        self.drain_timeout_s = drain_timeout_s
        self.max_reloads = max_reloads
        self.start_timeout_s = start_timeout_s
        # Each proxied connection takes two descriptors: stay inside the hard limit
        # (HAProxy refuses to start when it cannot raise its own to 2 * maxconn).
        self.maxconn = max(2000, min(50000, (hard_fd_limit() - 200) // 2))
        self.cfg = os.path.join(work_dir, "haproxy.cfg")
        self.map = os.path.join(work_dir, "routes.map")
        self.stats_sock = os.path.join(work_dir, "stats.sock")
        self.master_sock = os.path.join(work_dir, "master.sock")
        self.log = os.path.join(work_dir, "haproxy.log")
        self.popen: subprocess.Popen | None = None
        self.master_pid = 0
        self.ctl: Controller | None = None
        # Figures for the report: seconds per phase of each reload, CPU of the checks.
        self.reloads: list[dict] = []
        self.runtime_batches: list[float] = []
        self.control_cpu_s = 0.0

    # ------------------------------------------------------------ rendering

    def _render(self, routes: list, map_path: str) -> tuple[str, str]:
        """(configuration text, map text) for routes."""
        ms = int(self.drain_timeout_s * 1000)
        head = f"""global
  nbthread 1
  maxconn {self.maxconn}
  hard-stop-after {ms}ms
  mworker-max-reloads {self.max_reloads}
  stats socket {self.stats_sock} mode 600 level admin expose-fd listeners
  stats timeout 2m

defaults
  mode http
  balance roundrobin
  option http-keep-alive
  # On a reload the old worker keeps idle client connections until their next
  # request (answered, then closed) instead of closing them under a client that
  # may be sending: the setting for reloads without failed requests.
  option idle-close-on-response
  http-reuse always
  option redispatch
  retries 3
  maxconn {self.maxconn}
  timeout connect 5s
  timeout client 300s
  timeout server 60s
  timeout http-keep-alive 300s
  timeout http-request 10s
  timeout tunnel 1h
  timeout client-fin 5s

frontend http
  bind 127.0.0.1:{self.http_port} backlog 4096
  http-request set-var(txn.host) req.hdr(host),field(1,:),lower
  http-request set-var(txn.seg) path,field(2,/) if {{ path_reg ^/[^/]+/ }}
  http-request set-var(txn.be) var(txn.host),concat(/,txn.seg,/),map_str({map_path}) if {{ var(txn.seg) -m found }}
  http-request set-var(txn.be) var(txn.host),concat(,,/),map_str({map_path}) unless {{ var(txn.be) -m found }}
  use_backend %[var(txn.be)]
  default_backend no_route

backend no_route
  http-request return status 404 content-type text/plain string "no route"
"""
        parts = [head]
        lines = []
        for r in routes:
            check_path(r)
            be = backend_name(r.app_id)
            lines.append(f"{map_key(r)} {be}\n")
            parts.append(f"\nbackend {be}\n")
            for i, b in enumerate(r.backends):
                parts.append(f"  server s{i + 1} {b.ip}:{b.port}\n")
        return "".join(parts), "".join(lines)

    def _write_checked(self, routes: list) -> dict:
        """Render, check the candidate with `haproxy -c`, then move it in place."""
        t0 = time.monotonic()
        cand_map = self.map + ".next"
        cfg_text, map_text = self._render(routes, cand_map)
        with open(cand_map, "w") as f:
            f.write(map_text)
        with open(self.cfg + ".next", "w") as f:
            f.write(cfg_text)
        t1 = time.monotonic()
        rc, out, cpu = run_pinned([HAPROXY, "-c", "-f", self.cfg + ".next"], self.cpu, self.start_timeout_s)
        self.control_cpu_s += cpu
        if rc != 0:
            raise RuntimeError(f"haproxy -c rejected the rendered configuration: {out.strip()[:2000]}")
        t2 = time.monotonic()
        # The running files only change once the candidate passed the check.
        with open(self.cfg + ".tmp", "w") as f:
            f.write(cfg_text.replace(cand_map, self.map))
        os.replace(cand_map, self.map)
        os.replace(self.cfg + ".tmp", self.cfg)
        os.unlink(self.cfg + ".next")
        return {"render_s": t1 - t0, "check_s": t2 - t1, "check_cpu_s": cpu}

    # ------------------------------------------------------------ master CLI

    def _master(self, command: str, timeout: float = 30.0) -> str:
        """Master CLI commands (non-interactive: after our end of input the master
        answers every command, then closes)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.master_sock)
            s.sendall(command.encode() + b"\n")
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
            return b"".join(chunks).decode(errors="replace")
        finally:
            s.close()

    def _show_proc(self) -> tuple[int, int] | None:
        """(current worker pid, failed reloads) from the master's `show proc`, or
        None while the master re-executes itself (its CLI is briefly away)."""
        try:
            out = self._master("show proc", timeout=5)
        except OSError:
            return None
        failed = None
        section = ""
        for line in out.splitlines():
            if line.startswith("#"):
                section = line
                continue
            f = line.split()
            if len(f) >= 2 and f[1] == "master":
                m = re.search(r"failed: (\d+)", line)
                failed = int(m.group(1)) if m else 0
            elif len(f) >= 2 and f[1] == "worker" and section.startswith("# workers") and failed is not None:
                return int(f[0]), failed
        return None

    def _wait_worker(self, not_pid: int, failed_before: int, timeout: float) -> tuple[int, int]:
        """Wait until a worker other than not_pid is current; raise if the master
        counted a failed reload (it then keeps the old worker)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.popen.poll() is not None:
                raise RuntimeError(f"haproxy master exited ({self.popen.returncode}); see {self.log}")
            cur = self._show_proc()
            if cur is not None and cur[1] > failed_before:
                raise RuntimeError(f"haproxy master reports a failed reload; see {self.log}")
            if cur is not None and cur[0] != not_pid:
                return cur
            time.sleep(0.01)
        raise RuntimeError(f"haproxy: no new worker within {timeout:.0f} s; see {self.log}")

    # ------------------------------------------------------------ System

    def start(self, routes: list) -> None:
        os.makedirs(self.work_dir, exist_ok=True)
        t0 = time.monotonic()
        phases = self._write_checked(routes)
        log = open(self.log, "ab")
        self.popen = subprocess.Popen(
            proc.pinned(self.cpu, "system", [HAPROXY, "-W", "-S", f"{self.master_sock},mode,600", "-f", self.cfg]),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.master_pid = self.popen.pid  # taskset (and nice) exec haproxy: same pid
        self._worker, self._failed = self._wait_worker(0, 0, timeout=self.start_timeout_s)
        verify_routing(self.http_port, routes, 60, "haproxy start")
        phases["total_s"] = time.monotonic() - t0
        self.start_phases = phases
        self.ctl = Controller(self.name, routes, self._sync)

    def _sync(self, replaces: list, structural: bool, upgrade: bool = False) -> None:
        if replaces:
            # Runtime API first: replaced tasks go live now, even when a reload follows.
            t0 = time.monotonic()
            # Maintenance around the move: entering it purges the server's idle
            # connections, which `http-reuse always` would otherwise go on using
            # to the old address (seen: the old task still answering 15 s later).
            cmds = []
            for app_id, slot, b in replaces:
                srv = f"{backend_name(app_id)}/s{slot + 1}"
                cmds += [f"@1 set server {srv} state maint", f"@1 set server {srv} addr {b.ip} port {b.port}",
                         f"@1 set server {srv} state ready"]
            # Batches of commands per connection keep each answer readable.
            for i in range(0, len(cmds), 100):
                out = self._master(";".join(cmds[i : i + 100]))
                bad = [
                    ln
                    for ln in out.splitlines()
                    if ln.strip() and "changed from" not in ln and "no need to change" not in ln
                ]
                if bad:
                    raise RuntimeError(f"haproxy runtime API refused a server change: {bad[0]}")
            self.runtime_batches.append(time.monotonic() - t0)
        # An upgrade is the same master-CLI reload: the master re-executes its
        # binary (a new one, when the file was replaced) and hands the listeners on.
        if structural or upgrade:
            self._reload()

    def _reload(self) -> None:
        t0 = time.monotonic()
        with self.ctl.lock:
            routes = list(self.ctl.routes_by_id.values())
        phases = self._write_checked(routes)
        t1 = time.monotonic()
        old = self._worker
        try:
            self._master("reload", timeout=10)
        except OSError:
            pass  # the master closes the CLI when it re-executes itself
        self._worker, self._failed = self._wait_worker(old, self._failed, timeout=self.start_timeout_s)
        phases["reload_s"] = time.monotonic() - t1
        phases["total_s"] = time.monotonic() - t0
        self.reloads.append(phases)
