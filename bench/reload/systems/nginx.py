"""nginx 1.22 (open source) under the reload benchmark, run as its documentation
and its operators' tooling advise.

* Open-source nginx has no API to change upstreams at runtime (that is NGINX
  Plus), so every change is: render the whole configuration, `nginx -t` it, and
  signal the master to reload (SIGHUP, which is what `nginx -s reload` sends and
  what Debian's systemd unit does for reload, without `-s reload` parsing the
  whole configuration a second time only to find the pid file). Batches that
  queue up during a reload are coalesced into the next one.
* The master starts new workers on the listening sockets it already holds (no
  connection refused) and gracefully shuts the old ones down; they keep serving
  their open connections until they end or `worker_shutdown_timeout`.
* Routing for 100k routes: one server block per vhost (server_name found in the
  server-names hash, sized with server_names_hash_max_size/bucket_size so it
  builds in one pass), one prefix location per route path (longest prefix
  wins), `proxy_pass` to the route's named upstream, resolved when the
  configuration loads. (A `map` to `proxy_pass http://$upstream` was not chosen:
  a variable upstream name is looked up by a linear scan of every upstream on
  each request.)
* Upstreams keep idle connections to the backends (`keepalive`, HTTP/1.1 with
  the Connection header cleared, except for WebSocket upgrades which pass).
* One worker (worker_processes 1) pinned with taskset, enough connections and
  file descriptors for thousands of long-lived connections, no access log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from bench.reload import proc
from bench.reload.systems.peer_common import (
    Controller,
    MasterWorkerPeer,
    alive,
    children_of,
    cmdline,
    hard_fd_limit,
    run_pinned,
    verify_routing,
)

NGINX = "/usr/sbin/nginx"


def upstream_name(app_id: str) -> str:
    return "u_" + app_id.strip("/").replace("/", "_")


def hash_size(n: int) -> int:
    """server_names_hash_max_size: room for every name at a low load factor."""
    size = 1024
    while size < 2 * n:
        size *= 2
    return size


class Nginx(MasterWorkerPeer):
    name = "nginx"

    def __init__(
        self,
        work_dir: str,
        http_port: int,
        cpu: int,
        corral_bin: str,
        drain_timeout_s: float = 30.0,
        upstream_keepalive: int = 8,
        start_timeout_s: float = 900.0,
    ):
        """drain_timeout_s: worker_shutdown_timeout, the bound on how long an old
        worker keeps its connections (corral's --drain-timeout default is the same
        30 s); upstream_keepalive: idle backend connections cached per upstream (the
        cache is allocated per upstream, so at 100k routes it is kept modest);
        start_timeout_s: the bound on one configuration load (check or reload)."""
        super().__init__(work_dir, http_port, cpu, corral_bin)
        self.drain_timeout_s = drain_timeout_s
        self.upstream_keepalive = upstream_keepalive
        self.start_timeout_s = start_timeout_s
        self.conf = os.path.join(work_dir, "nginx.conf")
        self.errlog = os.path.join(work_dir, "error.log")
        self.popen: subprocess.Popen | None = None
        self.master_pid = 0
        self.ctl: Controller | None = None
        self.reloads: list[dict] = []
        self.control_cpu_s = 0.0
        self.old_masters: list[int] = []  # masters of earlier binaries, draining

    # ------------------------------------------------------------ rendering

    def _render(self, routes: list) -> str:
        d = self.work_dir
        ms = int(self.drain_timeout_s * 1000)
        by_vhost: dict[str, list] = {}
        for r in routes:
            by_vhost.setdefault(r.vhost.lower(), []).append(r)
        listen = f"127.0.0.1:{self.http_port}"
        # The same descriptor budget as HAProxy's maxconn (a proxied connection is
        # two descriptors, and worker_connections counts both sides; nginx allocates
        # every connection slot up front, hence the same cap as maxconn's).
        fds = min(hard_fd_limit(), 100_200)
        parts = [
            f"""daemon on;
worker_processes 1;
worker_rlimit_nofile {fds};
worker_shutdown_timeout {ms}ms;
pid {d}/nginx.pid;
error_log {self.errlog} warn;
events {{ worker_connections {fds - 200}; multi_accept on; }}
http {{
  access_log off;
  server_tokens off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server_names_hash_max_size {hash_size(len(by_vhost))};
  server_names_hash_bucket_size 128;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  proxy_http_version 1.1;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  proxy_set_header Upgrade $http_upgrade;
  proxy_set_header Connection $connection_upgrade;
  proxy_set_header Host $host;
  proxy_connect_timeout 5s;
  proxy_read_timeout 3600s;
  proxy_send_timeout 3600s;
  proxy_next_upstream error timeout;
  proxy_next_upstream_tries 3;
  server {{
    listen {listen} default_server backlog=4096;
    return 404;
  }}
"""
        ]
        ka = self.upstream_keepalive
        for r in routes:
            parts.append(f"  upstream {upstream_name(r.app_id)} {{\n")
            for b in r.backends:
                parts.append(f"    server {b.ip}:{b.port};\n")
            parts.append(f"    keepalive {ka};\n    keepalive_requests 1000000;\n  }}\n")
        for vhost, rs in by_vhost.items():
            parts.append(f"  server {{\n    listen {listen};\n    server_name {vhost};\n")
            has_root = False
            for r in rs:
                has_root |= r.path == "/"
                parts.append(f"    location {r.path} {{ proxy_pass http://{upstream_name(r.app_id)}; }}\n")
            if not has_root:
                parts.append("    location / { return 404; }\n")
            parts.append("  }\n")
        parts.append("}\n")
        return "".join(parts)

    def _write_checked(self, routes: list) -> dict:
        """Render, `nginx -t` the candidate, then move it in place."""
        t0 = time.monotonic()
        text = self._render(routes)
        cand = self.conf + ".next"
        with open(cand, "w") as f:
            f.write(text)
        t1 = time.monotonic()
        rc, out, cpu = run_pinned(
            [NGINX, "-t", "-q", "-c", cand, "-p", self.work_dir, "-e", self.errlog], self.cpu, self.start_timeout_s
        )
        self.control_cpu_s += cpu
        if rc != 0:
            raise RuntimeError(f"nginx -t rejected the rendered configuration: {out.strip()[:2000]}")
        t2 = time.monotonic()
        os.replace(cand, self.conf)
        return {"render_s": t1 - t0, "check_s": t2 - t1, "check_cpu_s": cpu}

    def _serving_workers(self) -> set[int]:
        """Workers of the current generation (old ones are titled '... is shutting down')."""
        return {
            p
            for p in children_of(self.master_pid)
            if "worker process" in cmdline(p) and "shutting down" not in cmdline(p)
        }

    def _wait_new_worker(self, old: set[int], timeout: float) -> set[int]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.popen.poll()  # reap the first master once a binary upgrade retired it
            if not alive(self.master_pid):
                raise RuntimeError(f"nginx master {self.master_pid} exited; see {self.errlog}")
            cur = self._serving_workers()
            if cur and not (cur & old):
                return cur
            time.sleep(0.01)
        raise RuntimeError(f"nginx: no new worker within {timeout:.0f} s; see {self.errlog}")

    def _binary_upgrade(self) -> None:
        """nginx's documented executable upgrade: USR2 makes the master start its
        binary again (a new master inheriting the listening sockets, which writes
        the pid file; the old one's becomes nginx.pid.oldbin); once the new
        master's worker serves, WINCH stops the old workers gracefully and QUIT
        the old master (it exits when its workers have finished, bounded by
        worker_shutdown_timeout)."""
        old_master = self.master_pid
        pid_file = os.path.join(self.work_dir, "nginx.pid")
        os.kill(old_master, signal.SIGUSR2)
        end = time.monotonic() + self.start_timeout_s
        new_master = 0
        while time.monotonic() < end:
            try:
                with open(pid_file) as f:
                    pid = int(f.read().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != old_master and alive(pid):
                new_master = pid
                break
            if not alive(old_master):
                raise RuntimeError(f"nginx master exited during the binary upgrade; see {self.errlog}")
            time.sleep(0.01)
        if not new_master:
            raise RuntimeError(f"nginx: no new master within {self.start_timeout_s:.0f} s of USR2; see {self.errlog}")
        self.master_pid = new_master
        self._workers = self._wait_new_worker(set(), self.start_timeout_s)
        os.kill(old_master, signal.SIGWINCH)
        os.kill(old_master, signal.SIGQUIT)
        self.old_masters.append(old_master)

    def pids(self) -> list[int]:
        out = set(super().pids())
        self.old_masters = [m for m in self.old_masters if alive(m)]
        for m in self.old_masters:
            out.add(m)
            out.update(children_of(m))
        return sorted(out)

    def stop(self) -> None:
        for m in self.old_masters:
            if alive(m):
                try:
                    os.kill(m, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        super().stop()
        for m in self.old_masters:
            for pid in [m] + children_of(m):
                if alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    # ------------------------------------------------------------ System

    def start(self, routes: list) -> None:
        os.makedirs(os.path.join(self.work_dir, "tmp"), exist_ok=True)
        t0 = time.monotonic()
        phases = self._write_checked(routes)
        log = open(os.path.join(self.work_dir, "nginx.out"), "ab")
        self.popen = subprocess.Popen(
            proc.pinned(self.cpu, "system", [NGINX, "-c", self.conf, "-p", self.work_dir, "-e", self.errlog]),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        # Daemonized (as packaged nginx runs): the master refuses a binary upgrade
        # while the process that started it is still its parent. The launcher
        # exits once the master has forked; the pid file names the master.
        try:
            rc = self.popen.wait(self.start_timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise RuntimeError(f"nginx did not daemonize within {self.start_timeout_s:.0f} s; see {self.errlog}")
        if rc != 0:
            raise RuntimeError(f"nginx exited {rc} at start; see {self.errlog}")
        end = time.monotonic() + 10
        while not self.master_pid:
            try:
                with open(os.path.join(self.work_dir, "nginx.pid")) as f:
                    self.master_pid = int(f.read().strip() or 0)
            except (OSError, ValueError):
                pass
            if not self.master_pid:
                if time.monotonic() > end:
                    raise RuntimeError(f"nginx wrote no pid file within 10 s; see {self.errlog}")
                time.sleep(0.01)
        self._workers = self._wait_new_worker(set(), self.start_timeout_s)
        verify_routing(self.http_port, routes, 60, "nginx start")
        phases["total_s"] = time.monotonic() - t0
        self.start_phases = phases
        self.ctl = Controller(self.name, routes, self._sync)

    def _sync(self, replaces: list, structural: bool, upgrade: bool = False) -> None:
        if upgrade:
            self._binary_upgrade()
            if not replaces and not structural:
                return
        # No runtime API in open-source nginx: every change is a reload.
        t0 = time.monotonic()
        with self.ctl.lock:
            routes = list(self.ctl.routes_by_id.values())
        phases = self._write_checked(routes)
        t1 = time.monotonic()
        old = self._workers
        os.kill(self.master_pid, signal.SIGHUP)
        self._workers = self._wait_new_worker(old, self.start_timeout_s)
        phases["reload_s"] = time.monotonic() - t1
        phases["total_s"] = time.monotonic() - t0
        self.reloads.append(phases)
