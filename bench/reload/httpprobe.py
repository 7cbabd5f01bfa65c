"""Plain-socket HTTP/1.1 probes of the proxy under test (no library in the way)."""

from __future__ import annotations

import random
import socket
import time


def get(port: int, host: str, path: str, timeout: float = 2.0, ip: str = "127.0.0.1"):
    """One GET with Connection: close: (status, X-Backend or "") or (0, error)."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            for _ in range(1000):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data:
                    break
    except OSError as e:
        return 0, str(e)
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split()[1])
    except (IndexError, ValueError):
        return 0, f"bad status line {head[0]!r}"
    backend = ""
    for line in head[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "x-backend":
            backend = v.strip()
    return status, backend


def serves(port: int, route) -> bool:
    status, backend = get(port, route.vhost, route.probe_path())
    return status == 200 and backend in {b.header() for b in route.backends}


def wait_serving(port: int, routes: list, timeout: float, sample: int = 300, seed: int = 1) -> None:
    """Blocks until the proxy on port serves routes: the first, the last and a
    random sample of them answer from one of their own backends (raises
    RuntimeError naming a route that does not, after timeout seconds)."""
    if not routes:
        return
    rng = random.Random(seed)
    picks = [routes[0], routes[-1]] + rng.sample(routes, min(sample, len(routes)))
    end = time.monotonic() + timeout
    for r in picks:
        while not serves(port, r):
            if time.monotonic() > end:
                status, backend = get(port, r.vhost, r.probe_path())
                raise RuntimeError(f"port {port} does not serve {r.app_id} (Host {r.vhost}, path {r.path}): "
                                   f"status {status} {backend!r} after {timeout:.0f}s")
            time.sleep(0.02)
