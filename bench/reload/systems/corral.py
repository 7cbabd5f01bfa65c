"""corral proxy under the reload benchmark: it follows a Marathon stand-in in
this process (marathon_standin.py) exactly as it follows a real Marathon, with
one worker pinned to the system's core; changes are the SSE events Marathon
would send (status_update_event, api_post_event, app_terminated_event). An
Upgrade starts the next generation with the same --takeover path (the hitless
upgrade of docs/TAKEOVER.md)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

from bench.reload import httpprobe, proc
from bench.reload.catalog import Upgrade
from bench.reload.marathon_standin import MarathonStandIn
from bench.reload.systems.base import System


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DRAIN_TIMEOUT_S = 30  # as HAProxy's hard-stop-after and nginx's worker_shutdown_timeout here
# What a new generation logs once it accepts on every socket (reload/takeover.cc).
SERVING_LINE = b"takeover: serving every socket"


class CorralSystem(System):
    name = "corral"

    def __init__(self, work_dir: str, http_port: int, cpu: int, corral_bin: str):
        super().__init__(work_dir, http_port, cpu, corral_bin)
        self.standin = None
        self.proc = None
        self.admin_port = 0
        self.takeover_path = ""
        self.generation = 0
        self.lock = threading.Lock()
        self.draining: list[subprocess.Popen] = []  # earlier generations, until they exit
        self.upgrades: list[float] = []
        self.upgrade_failures = 0

    def _spawn(self) -> subprocess.Popen:
        """One proxy generation. Every generation names the same --takeover path:
        the first binds the sockets, each later one takes them over from the one
        serving and that one drains (docs/TAKEOVER.md)."""
        self.generation += 1
        log = open(os.path.join(self.work_dir, f"corral-proxy-{self.generation}.log"), "ab")
        try:
            return subprocess.Popen(
                proc.pinned(self.cpu, "system", [self.corral_bin, "proxy", f"--master={self.standin.address}",
                 "--group=external", f"--http-listen=127.0.0.1:{self.http_port}", "--https-listen=",
                 f"--admin-listen=127.0.0.1:{self.admin_port}", "--workers=1",
                 f"--takeover={self.takeover_path}", f"--drain-timeout={DRAIN_TIMEOUT_S}",
                 *([f"--access-log={self.work_dir}/access-{self.generation}.log"]
                   if os.environ.get("CORRAL_BENCH_ACCESS_LOG") else [])]),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    def start(self, routes: list) -> None:
        if not os.access(self.corral_bin, os.X_OK):
            raise RuntimeError(f"{self.corral_bin} is not built: run scripts/build.sh corral")
        os.makedirs(self.work_dir, exist_ok=True)
        self.standin = MarathonStandIn(routes)
        self.admin_port = _free_port()
        self.takeover_path = os.path.join(self.work_dir, "takeover.sock")
        self.proc = self._spawn()
        timeout = 60 + len(routes) / 1000
        if not self.standin.stream_ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"corral proxy did not open the event stream in {timeout:.0f}s "
                               f"(see {self.work_dir}/corral-proxy-1.log)")
        try:
            httpprobe.wait_serving(self.http_port, routes, timeout)
        except RuntimeError:
            self.stop()
            raise

    def prepare(self, events: list):
        """Marathon's side of the batch: its event-stream bytes, rendered before
        the change is timed (a real Marathon renders them, not corral), and
        for an upgrade the /v2/apps answer the new generation will load (this
        Python stand-in re-renders 100k apps in seconds on the busy load core;
        that is not the new generation's time to serve)."""
        changes = [ev for ev in events if not isinstance(ev, Upgrade)]
        upgrades = len(events) - len(changes)
        if upgrades:
            _ = self.standin.catalog.body  # rendered now if the catalog changed
        return (self.standin.render(changes) if changes else b"", upgrades)

    def apply(self, events) -> None:
        data, upgrades = events if isinstance(events, tuple) else self.prepare(events)
        if data:
            self.standin.send_raw(data)
        for _ in range(upgrades):
            self._upgrade()

    def _upgrade(self) -> None:
        """Starts the next generation and returns; a thread times it until the new
        process says it serves every socket (the old one then stops accepting)."""
        t0 = time.monotonic()
        log_path = os.path.join(self.work_dir, f"corral-proxy-{self.generation + 1}.log")
        try:
            # Logs are appended to (a later round reuses the generation
            # numbers): only what this process writes counts.
            offset = os.path.getsize(log_path)
        except OSError:
            offset = 0
        new = self._spawn()
        with self.lock:
            self.draining = [p for p in self.draining if p.poll() is None]
            self.draining.append(self.proc)
            self.proc = new

        def watch():
            end = t0 + 60 + DRAIN_TIMEOUT_S  # a third generation waits for the oldest to drain
            while time.monotonic() < end and new.poll() is None:
                try:
                    with open(log_path, "rb") as f:
                        f.seek(offset)
                        if SERVING_LINE in f.read():
                            with self.lock:
                                self.upgrades.append(time.monotonic() - t0)
                            return
                except OSError:
                    pass
                time.sleep(0.002)
            with self.lock:
                self.upgrade_failures += 1

        threading.Thread(target=watch, daemon=True).start()

    def upgrade_seconds(self) -> list[float]:
        with self.lock:
            return list(self.upgrades)

    def pids(self) -> list[int]:
        out = []
        with self.lock:
            procs = [p for p in self.draining + [self.proc] if p is not None]
        for p in procs:
            if p.poll() is None:
                out += proc.tree(p.pid)
        return sorted(set(out))

    def stop(self) -> None:
        with self.lock:
            procs = [p for p in self.draining + [self.proc] if p is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self.standin is not None:
            self.standin.stop()
            self.standin = None


SYSTEM = CorralSystem
