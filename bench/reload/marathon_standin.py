"""A Marathon stand-in in this process for `corral proxy` to follow: it serves
/v2/leader, /v2/apps?embed=apps.tasks (the whole catalog, rendered once),
/v2/apps/<id>?embed=app.tasks (one app, for the follower's re-reads) and one
/v2/events SSE stream into which the benchmark writes the events a real
Marathon would send for each catalog change (as bench/dns_event_bench.py's
StandIn does for corral dns). The server is bench/marathon_standin.py's StandIn;
this module is the catalog of routes it serves and the events of each change."""

from __future__ import annotations

import json
import threading
import time

from bench.marathon_standin import StandIn
from bench.reload.catalog import AddRoute, RemoveRoute, Replace

VERSION = "2026-12-01T00:00:00.000Z"
KEEPALIVE_S = 5


def task_id(app_id: str, b) -> str:
    return f"{app_id.strip('/')}.{b.ip}_{b.port}"


def task_json(app_id: str, b, service_port: int) -> dict:
    return {"id": task_id(app_id, b), "appId": app_id, "host": b.ip, "slaveId": "bench-agent-1",
            "ports": [b.port], "servicePorts": [service_port], "state": "TASK_RUNNING",
            "version": VERSION, "startedAt": VERSION,
            "ipAddresses": [{"ipAddress": b.ip, "protocol": "IPv4"}]}


# Service ports: the proxy has 1,000 service-port listeners beside its
# routes, so apps are spread over this many ports (bound on loopback), a few
# hundred apps per port at 100k routes. (One port for every app would put all
# of them in one service-port slot, which is not what a Marathon assigns.)
SERVICE_PORT_BASE = 21000
SERVICE_PORTS = 1000


def service_port_of(app_id: str) -> int:
    digits = "".join(ch for ch in app_id if ch.isdigit())
    return SERVICE_PORT_BASE + int(digits or "0") % SERVICE_PORTS


def app_json(route, with_tasks: bool = True) -> dict:
    """The app marathon-lb labels route: HAPROXY_0_VHOST, and HAPROXY_0_PATH
    for a prefix route; its service port is bound on loopback (the benchmark
    reaches every route by Host through the shared HTTP frontend)."""
    service_port = service_port_of(route.app_id)
    labels = {"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": route.vhost,
              "HAPROXY_0_BIND_ADDR": "127.0.0.1"}
    if route.path != "/":
        labels["HAPROXY_0_PATH"] = route.path
    app = {"id": route.app_id, "instances": len(route.backends), "version": VERSION, "labels": labels,
           "portDefinitions": [{"port": service_port, "protocol": "tcp", "name": "http"}], "healthChecks": []}
    if with_tasks:
        app["tasks"] = [task_json(route.app_id, b, service_port) for b in route.backends]
    return app


class RouteCatalog:
    """The routes as Marathon apps: /v2/apps rendered from the current routes
    (once, and again only after a change: a proxy generation that takes over
    mid-run loads the catalog as it is then), each app rendered from the current
    routes when the follower re-reads it."""

    def __init__(self, routes: list):
        # The stand-in's own copy of the model (the follower's re-reads read it).
        self.routes = {r.app_id: type(r)(r.app_id, r.vhost, r.path, list(r.backends)) for r in routes}
        self.lock = threading.Lock()
        self.changed = False  # set by MarathonStandIn.send under the lock
        self._body = json.dumps({"apps": [app_json(r) for r in routes]}).encode()

    @property
    def body(self) -> bytes:
        with self.lock:
            if self.changed:
                self._body = json.dumps({"apps": [app_json(r) for r in self.routes.values()]}).encode()
                self.changed = False
            return self._body

    def app(self, app_id: str):
        with self.lock:
            r = self.routes.get(app_id)
            return app_json(r) if r else None


class MarathonStandIn(StandIn):
    def __init__(self, routes: list):
        # A comment line every few seconds, as a live Marathon stream has bytes:
        # corral's follower takes 35 s of silence for a dead stream and reloads
        # everything (20 s at 100k apps), mid-phase.
        super().__init__(RouteCatalog(routes), heartbeat_s=KEEPALIVE_S)

    def _event(self, etype: str, data: dict) -> bytes:
        data = dict(data, eventType=etype, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))
        return self.event_bytes(etype, data)

    def _status(self, app_id: str, b, state: str) -> bytes:
        return self._event("status_update_event", {
            "appId": app_id, "taskId": task_id(app_id, b), "taskStatus": state, "host": b.ip,
            "slaveId": "bench-agent-1", "ports": [b.port], "version": VERSION,
            "ipAddresses": [{"ipAddress": b.ip, "protocol": "IPv4"}]})

    def send(self, events: list) -> None:
        self.send_raw(self.render(events))

    def render(self, events: list) -> bytes:
        """The bytes a Marathon would send for these catalog changes, in one
        write (and the catalog changed accordingly): a replacement is the new
        task running, then the old one killed; a new route is its app
        definition (api_post_event), then its tasks running; a removed route is
        app_terminated_event."""
        out = []
        routes = self.catalog.routes
        with self.catalog.lock:
            self.catalog.changed = True
            for ev in events:
                if isinstance(ev, Replace):
                    out.append(self._status(ev.app_id, ev.new, "TASK_RUNNING"))
                    out.append(self._status(ev.app_id, ev.old, "TASK_KILLED"))
                    r = routes.get(ev.app_id)
                    if r is not None:
                        r.backends = [ev.new if b == ev.old else b for b in r.backends]
                elif isinstance(ev, AddRoute):
                    r = ev.route
                    routes[r.app_id] = type(r)(r.app_id, r.vhost, r.path, list(r.backends))
                    out.append(self._event("api_post_event", {
                        "clientIp": "127.0.0.1", "uri": "/v2/apps" + r.app_id,
                        "appDefinition": app_json(r, with_tasks=False)}))
                    out.extend(self._status(r.app_id, b, "TASK_RUNNING") for b in r.backends)
                elif isinstance(ev, RemoveRoute):
                    routes.pop(ev.app_id, None)
                    out.append(self._event("app_terminated_event", {"appId": ev.app_id}))
                else:
                    raise TypeError(f"unknown event {ev!r}")
        return b"".join(out)
