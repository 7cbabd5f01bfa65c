"""corral proxy under the reload benchmark: it follows a Marathon stand-in in
this process (marathon_standin.py) exactly as it follows a real Marathon, with
one worker pinned to the system's core; changes are the SSE events Marathon
would send (status_update_event, api_post_event, app_terminated_event)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from bench.reload import httpprobe, proc
from bench.reload.marathon_standin import MarathonStandIn
from bench.reload.systems.base import System


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CorralSystem(System):
    name = "corral"

    def __init__(self, work_dir: str, http_port: int, cpu: int, corral_bin: str):
        super().__init__(work_dir, http_port, cpu, corral_bin)
        self.standin = None
        self.proc = None
        self.admin_port = 0

    def start(self, routes: list) -> None:
        if not os.access(self.corral_bin, os.X_OK):
            raise RuntimeError(f"{self.corral_bin} is not built: run scripts/build.sh corral")
        os.makedirs(self.work_dir, exist_ok=True)
        self.standin = MarathonStandIn(routes)
        self.admin_port = _free_port()
        log = open(os.path.join(self.work_dir, "corral-proxy.log"), "ab")
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(self.cpu), self.corral_bin, "proxy", f"--master={self.standin.address}",
             "--group=external", f"--http-listen=127.0.0.1:{self.http_port}", "--https-listen=",
             f"--admin-listen=127.0.0.1:{self.admin_port}", "--workers=1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        timeout = 60 + len(routes) / 1000
        if not self.standin.stream_ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"corral proxy did not open the event stream in {timeout:.0f}s "
                               f"(see {self.work_dir}/corral-proxy.log)")
        try:
            httpprobe.wait_serving(self.http_port, routes, timeout)
        except RuntimeError:
            self.stop()
            raise

    def apply(self, events: list) -> None:
        self.standin.send(events)

    def pids(self) -> list[int]:
        return proc.tree(self.proc.pid) if self.proc is not None and self.proc.poll() is None else []

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.standin is not None:
            self.standin.stop()
            self.standin = None


SYSTEM = CorralSystem
