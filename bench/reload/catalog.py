"""The route catalog every system under test serves, and the events that change it.

One model shared by the harness and the system adapters: a route is one app
(app_id) reachable by an exact Host header (vhost) and a path prefix, served
by 1..10 backends on distinct loopback addresses. Events mutate the model the
same way for every system, so all systems are driven by the same sequence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Backends listen on the wildcard address at these ports (bench/reload/backends.py),
# so every 127.a.b.c:port answers and names itself in the X-Backend header.
BACKEND_PORTS = tuple(range(20001, 20011))

# How many backends a route has (1..10): most routes have few, some many,
# mean about 3 (so 100k routes are about 300k backends).
_BACKEND_COUNT_WEIGHTS = (30, 25, 15, 10, 5, 5, 3, 3, 2, 2)


@dataclass(frozen=True)
class Backend:
    ip: str
    port: int

    def header(self) -> str:
        """The X-Backend value this backend answers with."""
        return f"{self.ip}:{self.port}"


@dataclass
class Route:
    app_id: str  # "/r00042"
    vhost: str  # "r00042.bench.test" (Host header match, exact)
    path: str  # "/" or a prefix like "/p3/" (longest prefix wins within the vhost)
    backends: list = field(default_factory=list)  # list[Backend], 1..10

    def probe_path(self) -> str:
        """A request path that this route (and no longer prefix) serves."""
        return self.path if self.path != "/" else "/"


@dataclass
class Replace:
    """One task replaced by another: the old backend goes, the new one comes."""

    app_id: str
    old: Backend
    new: Backend


@dataclass
class AddRoute:
    route: Route


@dataclass
class RemoveRoute:
    app_id: str


@dataclass
class Upgrade:
    """Replace the running proxy process by a new one (same binary, same
    routes) the system's own hitless way: corral's --takeover, HAProxy's
    master-CLI reload (the master re-executes its binary), nginx's binary
    upgrade (USR2, WINCH, QUIT). Routes do not change."""

    seq: int


def backend_for(k: int) -> Backend:
    """The k-th backend identity: distinct 127.a.b.c addresses (no .0/.255 octets)."""
    a = 1 + k // 62500
    b = 1 + (k // 250) % 250
    c = 1 + k % 250
    if a > 254:
        raise ValueError(f"backend index {k} exceeds the loopback plan")
    return Backend(f"127.{a}.{b}.{c}", BACKEND_PORTS[(k * 7) % len(BACKEND_PORTS)])


def app_id_for(i: int) -> str:
    return f"/r{i:05d}"


def _route(i: int, rng: random.Random, next_backend) -> Route:
    """Route i. Every fourth route (i % 4 == 3) is a path route "/pN/" sharing the
    vhost of route i-1 (which serves "/"), so longest-prefix matching is exercised."""
    if i % 4 == 3:
        vhost = f"r{i - 1:05d}.bench.test"
        path = f"/p{i % 10}/"
    else:
        vhost = f"r{i:05d}.bench.test"
        path = "/"
    n = rng.choices(range(1, 11), weights=_BACKEND_COUNT_WEIGHTS)[0]
    return Route(app_id_for(i), vhost, path, [next_backend() for _ in range(n)])


class _Counter:
    def __init__(self, start: int = 0):
        self.k = start

    def __call__(self) -> Backend:
        b = backend_for(self.k)
        self.k += 1
        return b


def make_catalog(n_routes: int, seed: int) -> list[Route]:
    """n_routes routes, deterministic for (n_routes, seed)."""
    rng = random.Random(seed)
    counter = _Counter()
    return [_route(i, rng, counter) for i in range(n_routes)]


def apply_event(routes_by_id: dict, ev) -> None:
    """Apply one event to the model {app_id: Route} (mutates it)."""
    if isinstance(ev, Replace):
        route = routes_by_id[ev.app_id]
        route.backends = [ev.new if b == ev.old else b for b in route.backends]
    elif isinstance(ev, AddRoute):
        routes_by_id[ev.route.app_id] = ev.route
    elif isinstance(ev, RemoveRoute):
        routes_by_id.pop(ev.app_id, None)
    elif isinstance(ev, Upgrade):
        pass
    else:
        raise TypeError(f"unknown event {ev!r}")


class EventSource:
    """Deterministic events against a catalog: task replacements, route adds and
    removes. New backends and new routes get identities no catalog route has."""

    def __init__(self, routes: list[Route], seed: int):
        self._rng = random.Random(seed ^ 0x5EED)
        self._ids = [r.app_id for r in routes if r.path == "/"]  # replace targets
        used = sum(len(r.backends) for r in routes)
        self._backends = _Counter(used + 1000)
        self._next_route = len(routes)
        # Routes this source added and not yet removed (remove targets).
        self._added: list[str] = []

    def replace(self, routes_by_id: dict) -> Replace:
        for _ in range(1000):
            app_id = self._rng.choice(self._ids)
            route = routes_by_id.get(app_id)
            if route is not None and route.backends:
                old = self._rng.choice(route.backends)
                return Replace(app_id, old, self._backends())
        raise RuntimeError("no route with backends to replace")

    def add_route(self) -> AddRoute:
        i = self._next_route
        self._next_route += 1
        # Own vhost, "/" path: a route nobody served before.
        route = Route(app_id_for(i), f"r{i:05d}.bench.test", "/", [self._backends() for _ in range(2)])
        self._added.append(route.app_id)
        return AddRoute(route)

    def remove_route(self) -> RemoveRoute:
        if not self._added:
            raise RuntimeError("remove_route before add_route")
        return RemoveRoute(self._added.pop(0))
