#!/usr/bin/env python3
"""Self test of the peer adapters (bench/reload/systems/haproxy.py, nginx.py).

For each peer and each route count: start it on a catalog (timed), check a
sample of routes by HTTP, then apply a task replacement, a route add and a
route remove (each its own batch, timed from apply() until the change is seen
by HTTP), and a burst of task replacements coalesced by the controller. Reports
start time, per-change latency, reload phases, process count and memory (Pss
of pids()), and fails (exit 1) on any wrong answer.

The backends are a stand-in of this script's own (one thread-per-connection
HTTP server on 10 free wildcard ports, answering X-Backend: <local ip>:<port>),
so the test never collides with the harness's backends on 20001..20010: the
catalog's ports are remapped onto the stand-in's.

Run time on the 2-core machine, busy: R=100 about 15 s for both peers; R=10k
about 2 min for HAProxy and 8 min for nginx (every nginx change parses the
whole configuration twice, nginx -t and the master's reload).

Usage: python3 -m bench.reload.systems.peers_selftest [--routes 100,10000]
                                                     [--only haproxy,nginx] [--cpu 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.reload import httpprobe, proc  # noqa: E402
from bench.reload.catalog import AddRoute, Backend, EventSource, RemoveRoute, Replace, Route, Upgrade, make_catalog  # noqa: E402
from bench.reload.systems.haproxy import HAProxy  # noqa: E402
from bench.reload.systems.nginx import Nginx  # noqa: E402
from bench.reload.systems.peer_common import alive, http_get  # noqa: E402

PEERS = {"haproxy": HAProxy, "nginx": Nginx}


class StandIn:
    """Backends: 10 wildcard ports; each answers 200 naming the address it was reached on."""

    def __init__(self):
        self.base = self._free_block(10)
        self.servers = []
        # Requests for /hold/... wait for this: an in-flight request across a reload.
        self.release = threading.Event()
        self.holding = threading.Event()
        release, holding = self.release, self.holding

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.startswith("/hold/"):
                    holding.set()
                    release.wait(300)
                ip, port = self.connection.getsockname()[:2]
                body = b"ok\n"
                self.send_response(200)
                self.send_header("X-Backend", f"{ip}:{port}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # proxies reset pooled idle connections when they stop

        for port in range(self.base, self.base + 10):
            srv = Server(("0.0.0.0", port), Handler)
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            self.servers.append(srv)

    @staticmethod
    def _free_block(n):
        for base in range(23001, 60000, 37):
            ok = True
            for p in range(base, base + n):
                s = socket.socket()
                try:
                    s.bind(("0.0.0.0", p))
                except OSError:
                    ok = False
                finally:
                    s.close()
                if not ok:
                    break
            if ok:
                return base
        raise RuntimeError("no block of 10 free ports")

    def remap(self, b: Backend) -> Backend:
        return Backend(b.ip, self.base + (b.port - 20001) % 10)

    def close(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_until(sysm, cond, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        sysm.ctl.check()
        if cond():
            return time.monotonic() - t0
        time.sleep(0.002)
    raise AssertionError(f"{what}: not live within {timeout:.0f} s")


def listen_inode(port):
    """Inode of the listening socket on 127.0.0.1:port (same inode = same socket)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fl = line.split()
            if fl[1] == want and fl[3] == "0A":
                return fl[9]
    return None


def run_one(peer, n, stand, cpu, work_root):
    out = {"system": peer, "routes": n}
    routes = [Route(r.app_id, r.vhost, r.path, [stand.remap(b) for b in r.backends]) for r in make_catalog(n, 7)]
    by_id = {r.app_id: r for r in routes}
    port = free_port()
    work = os.path.join(work_root, f"{peer}-{n}")
    os.makedirs(work)
    sysm = PEERS[peer](work, port, cpu, "")
    try:
        t0 = time.monotonic()
        sysm.start(routes)
        out["start_s"] = round(time.monotonic() - t0, 3)
        out["start_phases"] = {k: round(v, 3) for k, v in sysm.start_phases.items()}
        out["procs_after_start"] = len(sysm.pids())
        out["pss_mb_after_start"] = round(proc.memory_kib(sysm.pids()) / 1024, 1)
        inode0 = listen_inode(port)

        # Every path route shares its vhost with a root route: both must answer right.
        for r in routes[:8]:
            assert httpprobe.serves(port, r), f"{peer}: {r.vhost}{r.path} not via {r.backends}"
        status, _ = http_get(port, "nope.bench.test", "/")
        assert status == 404, f"{peer}: unknown vhost answered {status}, want 404"

        src = EventSource(routes, 11)

        # 1. One task replacement: the route must move to the new backend.
        ev = src.replace(by_id)
        ev = Replace(ev.app_id, ev.old, stand.remap(ev.new))
        route = by_id[ev.app_id]
        route.backends = [ev.new if b == ev.old else b for b in route.backends]
        want = ev.new.header()
        t0 = time.monotonic()
        sysm.apply([ev])
        applied = time.monotonic() - t0

        def new_backend_seen():
            # Round robin: the new backend answers within len(backends) requests.
            for _ in range(len(route.backends)):
                try:
                    st, via = http_get(port, route.vhost, route.probe_path())
                except OSError:
                    continue
                if st == 200 and via == want:
                    return True
            return False

        out["replace_live_s"] = round(wait_until(sysm, new_backend_seen, 120, "replace") + applied, 4)
        out["replace_apply_s"] = round(applied, 4)
        sysm.wait_idle(120)
        # The old backend must be gone (more requests than backends, none via old).
        for _ in range(2 * len(route.backends)):
            st, via = http_get(port, route.vhost, route.probe_path())
            assert st == 200 and via != ev.old.header(), f"{peer}: replaced backend still answers"

        # 2. A route add (new vhost), with a request in flight through the old generation.
        held_route = routes[0]
        held = {}

        def hold():
            try:
                held["answer"] = http_get(port, held_route.vhost, "/hold/x", timeout=300)
            except OSError as e:
                held["answer"] = repr(e)

        stand.release.clear()
        stand.holding.clear()
        holder = threading.Thread(target=hold)
        holder.start()
        # The request reaches the backend (through the current worker) before the reload.
        assert stand.holding.wait(60), f"{peer}: the held request never reached its backend"
        add = src.add_route()
        add = AddRoute(Route(add.route.app_id, add.route.vhost, add.route.path,
                             [stand.remap(b) for b in add.route.backends]))
        by_id[add.route.app_id] = add.route
        t0 = time.monotonic()
        sysm.apply([add])
        applied = time.monotonic() - t0
        out["add_live_s"] = round(wait_until(sysm, lambda: httpprobe.serves(port, add.route), 600, "add") + applied, 4)
        sysm.wait_idle(600)
        out["procs_after_add"] = len(sysm.pids())
        # The old generation still serves the held request and pids() counts it.
        assert out["procs_after_add"] >= 3, f"{peer}: pids() misses the draining generation: {sysm.pids()}"
        stand.release.set()
        holder.join(60)
        st, via = held.get("answer", (0, ""))
        assert st == 200 and via in {b.header() for b in held_route.backends}, f"{peer}: held request got {held}"

        def drained():
            return len(sysm.pids()) == out["procs_after_start"]

        out["old_generation_exit_s"] = round(wait_until(sysm, drained, 60, "old generation exit"), 3)
        out["pss_mb_after_add"] = round(proc.memory_kib(sysm.pids()) / 1024, 1)
        # The replacement done through a runtime API must survive the reload.
        for _ in range(2 * len(route.backends)):
            st, via = http_get(port, route.vhost, route.probe_path())
            assert st == 200 and via != ev.old.header(), f"{peer}: reload resurrected the replaced backend"
        assert httpprobe.serves(port, route), f"{peer}: replaced route broken after reload"

        # 3. A route remove: its vhost must stop answering 200.
        rem = RemoveRoute(add.route.app_id)
        by_id.pop(rem.app_id)
        t0 = time.monotonic()
        sysm.apply([rem])
        applied = time.monotonic() - t0

        def gone():
            try:
                return http_get(port, add.route.vhost, "/")[0] == 404
            except OSError:
                return False

        out["remove_live_s"] = round(wait_until(sysm, gone, 600, "remove") + applied, 4)
        sysm.wait_idle(600)

        # 4. A burst: 50 replacements in 10 batches, coalesced, then all live.
        burst = []
        for _ in range(50):
            e = src.replace(by_id)
            e = Replace(e.app_id, e.old, stand.remap(e.new))
            r = by_id[e.app_id]
            r.backends = [e.new if b == e.old else b for b in r.backends]
            burst.append(e)
        t0 = time.monotonic()
        for i in range(0, 50, 5):
            sysm.apply(burst[i : i + 5])
        sysm.wait_idle(600)
        out["burst50_applied_s"] = round(time.monotonic() - t0, 3)
        for e in burst:
            r = by_id[e.app_id]
            seen = set()
            for _ in range(3 * len(r.backends)):
                st, via = http_get(port, r.vhost, r.probe_path())
                assert st == 200 and via in {b.header() for b in r.backends}, f"{peer}: {r.vhost} via {via}"
                seen.add(via)
            assert e.old.header() not in seen
        out["listen_socket_kept"] = listen_inode(port) == inode0

        # 5. An upgrade (a new process generation, the peer's own way): routes keep
        # answering, the listening socket is the same, and the old generation goes.
        before = set(sysm.pids())
        sysm.apply([Upgrade(1)])
        sysm.wait_idle(600)
        assert len(sysm.upgrade_seconds()) == 1, f"{peer}: upgrade not timed"
        out["upgrade_s"] = round(sysm.upgrade_seconds()[0], 3)
        for r in list(by_id.values())[:20]:
            assert httpprobe.serves(port, r), f"{peer}: {r.vhost} broken after the upgrade"
        assert listen_inode(port) == inode0, f"{peer}: the upgrade bound a new listening socket"
        wait_until(sysm, lambda: not (set(sysm.pids()) & before - {sysm.master_pid}), 60, "old generation gone")
        out["procs_end"] = len(sysm.pids())
        out["pss_mb_end"] = round(proc.memory_kib(sysm.pids()) / 1024, 1)
        out["reloads"] = [{k: round(v, 3) for k, v in r.items()} for r in sysm.reloads]
        out["control_cpu_s"] = round(sysm.control_cpu_s, 3)
        out["syncs"] = sysm.ctl.syncs
    finally:
        pids = sysm.pids()
        sysm.stop()
        # A daemonized master's workers are reaped by init, not by us: give the
        # exit a moment before calling anything left running.
        end = time.monotonic() + 3
        left = [p for p in pids if alive(p)]
        while left and time.monotonic() < end:
            time.sleep(0.05)
            left = [p for p in pids if alive(p)]
        out["left_running"] = left
    assert not out["left_running"], f"{peer}: processes left after stop: {left}"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routes", default="100,10000")
    ap.add_argument("--only", default="haproxy,nginx")
    ap.add_argument("--cpu", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    stand = StandIn()
    work_root = tempfile.mkdtemp(prefix="peers-selftest-")
    results, failed = [], False
    try:
        for n in [int(x) for x in args.routes.split(",")]:
            for peer in args.only.split(","):
                try:
                    r = run_one(peer, n, stand, args.cpu, work_root)
                except Exception as e:  # report every peer, then fail
                    failed = True
                    r = {"system": peer, "routes": n, "error": f"{type(e).__name__}: {e}"}
                results.append(r)
                print(json.dumps(r), flush=True)
    finally:
        stand.close()
        if failed or args.keep:
            print(f"work files kept in {work_root}")
        else:
            shutil.rmtree(work_root, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print("FAIL" if failed else "PASS")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
