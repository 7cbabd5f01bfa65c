"""The backend tasks of the reload benchmark: ONE nginx listening on the
wildcard address at catalog.BACKEND_PORTS, so that every 127.a.b.c:port a
catalog names answers, with an X-Backend header naming the address and port
the request reached. One process stands in for hundreds of thousands of tasks;
it is pinned to the load generator's core so that it is never what the proxy
under test waits for."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from bench.reload import httpprobe, proc
from bench.reload.catalog import BACKEND_PORTS


def _conf(d: str) -> str:
    listens = "\n".join(f"    listen {p} reuseport backlog=4096;" for p in BACKEND_PORTS)
    return f"""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 16000; multi_accept on; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
{listens}
    location / {{ add_header X-Backend $server_addr:$server_port always; return 200 "ok\\n"; }}
  }}
}}
"""


def _answers(ip: str, port: int) -> bool:
    status, backend = httpprobe.get(port, "b", "/", timeout=1.0, ip=ip)
    return status == 200 and backend == f"{ip}:{port}"


class Backends:
    """Start with start(), stop with stop(); the nginx runs pinned to `cpu`."""

    def __init__(self, work_dir: str, cpu: int):
        self.dir = os.path.join(work_dir, "backends")
        self.cpu = cpu
        self.proc = None

    def start(self, timeout: float = 10.0) -> None:
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(_conf(self.dir))
        log = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen(
            proc.pinned(self.cpu, "backend", ["nginx", "-c", conf, "-p", self.dir, "-e", os.path.join(self.dir, "error.log")]),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"backend nginx exited ({self.proc.returncode}); see {self.dir}/error.log "
                                   f"(ports {BACKEND_PORTS[0]}..{BACKEND_PORTS[-1]} busy?)")
            if all(_answers("127.9.9.9", p) for p in BACKEND_PORTS):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"backend nginx did not answer on {BACKEND_PORTS} within {timeout}s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
