#!/usr/bin/python3
"""corral proxy at scale: 100,000 routes and 1,000 service-port listeners.

For each size R (routes) the bench starts a Marathon stand-in in this process
(bench/marathon_standin.py: the catalog from memory, one event stream it
writes into) and a real `corral proxy --workers 1` pinned to core 0 (its
control loop and its one worker share that core); the stand-in, the probe and
a small backend run on core 1. The catalog:
* R/4 vhost apps, each `HAPROXY_0_VHOST=a<i>.scale.test,b<i>.scale.test` and
  `HAPROXY_0_PATH=/api /web` (2 x 2 = 4 routes), 1-10 tasks each (addresses
  that are never connected to), all on one shared service port;
* --service-apps apps with their own service port (half tcp, half http
  mode): one listener each on --ip;
* the probe app, `probe.scale.test`, whose one task is the real backend.

Measured, per size:
1. First snapshot: process start -> /v2/apps served by the stand-in (the
   proxy asked and got it) -> the probe host answers 200 through the worker
   (routes live), plus the registry's parse+load time and the control
   loop's first build (+ publish) time from corral's log lines.
2. Memory: RSS once loaded minus the RSS of a proxy with an empty catalog,
   per route; then --idle-conns keep-alive client connections (one request
   each, then idle): RSS delta per connection.
3. One change at a time (--changes, alternately a task added to and removed
   from a random vhost app): the control loop's time for that snapshot
   (build + publish, from corral's log line; p50 / p99 / max) and event ->
   published (stream write -> log line).
4. A burst of --burst task additions on distinct apps in one write: how many
   snapshots it became, and how long until the last was published.
5. Worker stall: a probe (own process, --probe-rate requests per second at
   fixed send times on one keep-alive connection to the probe host, latency
   from send to answer, so a stalled worker shows as one long answer) runs
   throughout; its latency is reported in a quiet second after the load
   (the baseline), and its max during the first build, the one-change
   series, the burst and one /metrics scrape (the control loop busy).

Bounded everywhere: every wait has a timeout, every loop a count.
Usage: bench/proxy_scale.py [--corral build/cli/corral] [--sizes 1000,10000,100000]
                            [--service-apps 1000] [--idle-conns 5000] [--changes 200]
                            [--burst 500] [--probe-rate 200] [--json out.json]
                            [--markdown out.md]
"""
import argparse
import asyncio
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from marathon_standin import (StandIn, StaticCatalog, free_port, metric, metrics,  # noqa: E402
                              percentile, rss_kib, wait_for)

IP = "127.0.23.1"           # proxy frontend and service listeners
BACKEND_IP = "127.0.23.2"   # the probe app's task
SHARED_PORT = 19999          # the vhost apps' service port
FIRST_SERVICE_PORT = 20000   # service apps: FIRST_SERVICE_PORT + i
PROBE_HOST = "probe.scale.test"
VERSION = "2026-12-01T00:00:00.000Z"


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ catalog

def task(app_id, k, host, port):
    return {"id": f"{app_id.strip('/').replace('/', '_')}.t{k}", "appId": app_id, "host": host,
            "slaveId": "agent-1", "ports": [port], "state": "TASK_RUNNING", "version": VERSION}


def fake_host(n):
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def build_catalog(routes, service_apps, backend_port, seed):
    rng = random.Random(seed)
    apps, vhost_apps, n = [], [], 0
    for i in range(routes // 4):
        app_id = f"/scale/app{i:06d}"
        ntasks = rng.randint(1, 10)
        tasks = [task(app_id, k, fake_host(n + k), 31000 + (n + k) % 30000) for k in range(ntasks)]
        n += ntasks
        apps.append({"id": app_id, "instances": ntasks, "version": VERSION,
                     "labels": {"HAPROXY_GROUP": "external",
                                "HAPROXY_0_VHOST": f"a{i}.scale.test,b{i}.scale.test",
                                "HAPROXY_0_PATH": "/api /web"},
                     "portDefinitions": [{"port": SHARED_PORT, "protocol": "tcp"}],
                     "healthChecks": [], "tasks": tasks})
        vhost_apps.append(app_id)
    for i in range(service_apps):
        app_id = f"/scale/svc{i:04d}"
        labels = {"HAPROXY_GROUP": "external"}
        if i % 2:
            labels["HAPROXY_0_MODE"] = "http"
        apps.append({"id": app_id, "instances": 1, "version": VERSION, "labels": labels,
                     "portDefinitions": [{"port": FIRST_SERVICE_PORT + i, "protocol": "tcp"}],
                     "healthChecks": [], "tasks": [task(app_id, 0, fake_host(n), 31000)]})
        n += 1
    apps.append({"id": "/scale/probe", "instances": 1, "version": VERSION,
                 "labels": {"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": PROBE_HOST},
                 "portDefinitions": [{"port": SHARED_PORT, "protocol": "tcp"}],
                 "healthChecks": [], "tasks": [task("/scale/probe", 0, BACKEND_IP, backend_port)]})
    catalog = StaticCatalog(apps)
    catalog.vhost_apps = vhost_apps
    catalog.tasks = n + 1
    return catalog


def status_event(stand_in, app_id, task_id, host, port, state):
    return stand_in.event_bytes("status_update_event", {
        "eventType": "status_update_event", "appId": app_id, "taskId": task_id,
        "taskStatus": state, "host": host, "slaveId": "agent-1", "ports": [port],
        "ipAddresses": [{"ipAddress": host, "protocol": "IPv4"}],
        "version": VERSION, "timestamp": "2026-12-01T00:00:02.000Z"})


# ------------------------------------------------------ backend and probe

BACKEND_CODE = r"""
import asyncio, sys
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(RESP)
    except Exception:
        writer.close()
async def main():
    server = await asyncio.start_server(serve, sys.argv[1], int(sys.argv[2]), backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""

# The probe: request i is due at t0 + i / rate (a fixed send rate whatever
# the answers do); its latency counts from the moment it is sent to its
# answer, so a stalled worker shows as one long answer. A probe that falls
# more than 10 slots behind (the machine did not run it) skips ahead rather
# than queueing its own backlog into every later figure; skipped slots are
# counted. Prints one JSON object at the end: [wall time sent, latency s,
# status] rows.
PROBE_CODE = r"""
import json, signal, socket, sys, time
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
ip, port, host, rate, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
req = f"GET /api/probe HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
deadline = time.monotonic() + seconds
def connect():
    while time.monotonic() < deadline and not stop:
        try:
            s = socket.create_connection((ip, port), timeout=2)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            time.sleep(0.002)
    return None
def read_response(s, buf):
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    length, close = 0, False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v)
        elif k == b"connection" and v.strip().lower() == b"close":
            close = True
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed")
        rest += chunk
    return status, rest[length:], close
rows, errors, skipped = [], 0, 0
s = connect()
t0m, t0w = time.monotonic(), time.time()
i = 0
buf = b""
while s is not None and not stop and time.monotonic() < deadline and i < rate * seconds + 1:
    due = t0m + i / rate
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    elif now - due > 10 / rate:
        behind = int((now - due) * rate)
        skipped += behind
        i += behind
    sent = time.monotonic()
    try:
        s.sendall(req)
        status, buf, close = read_response(s, buf)
        if close:  # e.g. the 404 before the routes are in: a new connection, no error
            s.close()
            buf = b""
            s = connect()
    except OSError:
        errors += 1
        status = 0
        s.close()
        buf = b""
        s = connect()
    rows.append((round(t0w + (sent - t0m), 6), round(time.monotonic() - sent, 6), status))
    i += 1
print(json.dumps({"rows": rows, "errors": errors, "skipped": skipped}))
"""


def probe_stats(rows, start=None, end=None):
    lat = [r[1] * 1000 for r in rows if (start is None or r[0] >= start) and (end is None or r[0] <= end)]
    if not lat:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"n": len(lat), "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "p999": percentile(lat, 99.9), "max": max(lat)}


def raw_get(port, path, host="127.0.0.1"):
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("GET", path)
    body = c.getresponse().read()
    c.close()
    return body


def http_status(ip, port, host, timeout=2):
    with socket.create_connection((ip, port), timeout=timeout) as s:
        s.sendall(f"GET /api/x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


async def open_idle(ip, port, host, count, batch=200):
    """count keep-alive connections, each after one request and its response."""
    req = f"GET /api/idle HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    conns = []

    async def one():
        r, w = await asyncio.open_connection(ip, port)
        w.write(req)
        await w.drain()
        await r.readuntil(b"\r\n\r\nok")
        return w

    for k in range(0, count, batch):
        conns += await asyncio.gather(*(one() for _ in range(min(batch, count - k))))
    return conns


# ------------------------------------------------------------------ the proxy

PUBLISHED = re.compile(r"routes (\d+) published from snapshot (\d+) \((\d+) added, (\d+) changed, "
                       r"(\d+) removed\), built in ([0-9.]+) ms, published in ([0-9.]+) ms")
LOADED = re.compile(r"registry: loaded (\d+) app\(s\) .* in ([0-9.]+) ms")


class LogTail:
    """Reads corral's log file as it grows; each line with the time it was seen."""

    def __init__(self, path):
        self.f = open(path, "r", errors="replace")
        self.partial = ""

    def lines(self):
        out = []
        data = self.f.read()
        if data:
            now = time.time()
            data = self.partial + data
            parts = data.split("\n")
            self.partial = parts.pop()
            out = [(now, p) for p in parts]
        return out

    def wait(self, regex, timeout, seen=None):
        """The first new line matching regex (and the time it was read), or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for t, line in self.lines():
                if seen is not None:
                    seen.append((t, line))
                m = regex.search(line)
                if m:
                    return t, m
            time.sleep(0.0005)
        return None


class Proxy:
    def __init__(self, corral, stand_in, work, name):
        self.http = free_port(IP)
        self.admin = free_port()
        self.log_path = os.path.join(work, f"{name}.log")
        self.logf = open(self.log_path, "w")
        cmd = ["taskset", "-c", "0", corral, "proxy", f"--master={stand_in.address}",
               "--group=external", f"--http-listen={IP}:{self.http}", "--https-listen=",
               f"--admin-listen=127.0.0.1:{self.admin}", f"--service-bind={IP}", "--workers=1"]
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT)
        self.tail = LogTail(self.log_path)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.logf.close()


# ------------------------------------------------------------------- bench

def measure(args, routes, work, empty_rss, backend_port):
    t_cat = time.monotonic()
    catalog = build_catalog(routes, args.service_apps, backend_port, seed=routes)
    napps = len(catalog.apps)
    log(f"R={routes}: {napps} apps, {catalog.tasks} tasks; catalog JSON "
        f"{len(catalog.body) / 1e6:.1f} MB (made in {time.monotonic() - t_cat:.1f} s)")
    stand_in = StandIn(catalog)
    res = {"routes": routes, "apps": napps, "tasks": catalog.tasks,
           "service_ports": args.service_apps, "json_mb": len(catalog.body) / 1e6,
           "load_before": loadavg()}
    total = 900  # the probe's own bound; it is stopped (SIGTERM) when the size is done
    proxy = Proxy(args.corral, stand_in, work, f"proxy-{routes}")
    probe = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-c", PROBE_CODE, IP,
                              str(proxy.http), PROBE_HOST, str(args.probe_rate), str(total)],
                             stdout=subprocess.PIPE, text=True)
    try:
        # 1. First snapshot.
        got = proxy.tail.wait(LOADED, 120)
        if got is None:
            raise RuntimeError("the registry never loaded the catalog")
        res["registry_load_ms"] = float(got[1].group(2))
        got = proxy.tail.wait(PUBLISHED, 120)
        while got is not None and int(got[1].group(3)) == 0:  # the empty one before the load
            got = proxy.tail.wait(PUBLISHED, 120)
        if got is None:
            raise RuntimeError("no routing snapshot was published")
        res["first_build_ms"] = float(got[1].group(6))
        res["first_publish_ms"] = float(got[1].group(7))
        first_published = got[0]

        def live():
            return http_status(IP, proxy.http, PROBE_HOST) == 200
        wait_for(live, 60, "the probe route", interval=0.002)
        t_live = time.time()
        res["catalog_served_s"] = stand_in.apps_served_at - proxy.started
        res["start_to_live_s"] = t_live - proxy.started
        res["catalog_to_live_s"] = t_live - stand_in.apps_served_at
        last_port = FIRST_SERVICE_PORT + args.service_apps - 1

        def listening():
            with socket.create_connection((IP, last_port), timeout=1):
                return True
        wait_for(listening, 60, "the service port listeners", interval=0.005)
        res["start_to_listeners_s"] = time.time() - proxy.started
        build_window = (stand_in.apps_served_at, max(first_published, t_live))
        log(f"  first snapshot: catalog served {res['catalog_served_s']:.2f} s after start; registry "
            f"load {res['registry_load_ms']:.0f} ms; first build {res['first_build_ms']:.1f} ms + publish "
            f"{res['first_publish_ms']:.1f} ms; routes live {res['start_to_live_s']:.2f} s after start "
            f"({res['catalog_to_live_s']:.2f} s after the catalog); all listeners "
            f"{res['start_to_listeners_s']:.2f} s")

        # 2. Memory (the second before it: the probe's quiet baseline).
        time.sleep(1.0)
        steady_window = (t_live + 0.1, time.time())
        rss = rss_kib(proxy.proc.pid)
        res["rss_mib"] = rss / 1024
        res["bytes_per_route"] = (rss - empty_rss) * 1024 / routes
        m = metrics(proxy.admin)
        res["listeners"] = int(metric(m, "corral_proxy_service_listeners"))
        t = time.time()
        res["metrics_bytes"] = len(raw_get(proxy.admin, "/metrics"))  # the fetch alone, no parsing
        scrape_window = (t, time.time())
        res["metrics_scrape_ms"] = (scrape_window[1] - t) * 1000
        log(f"  RSS {rss / 1024:.1f} MiB: {res['bytes_per_route']:.0f} B per route over an empty "
            f"proxy; {res['listeners']} service listeners; one /metrics scrape {res['metrics_scrape_ms']:.0f} ms "
            f"({res['metrics_bytes'] / 1e6:.1f} MB)")

        # 3. One change at a time.
        proxy.tail.lines()
        rng = random.Random(routes + 1)
        control, e2p, misses = [], [], 0
        pending = []  # (app, task id) added and not removed yet
        changes_start = time.time()
        for i in range(args.changes):
            if i % 2 == 0 or not pending:
                app = rng.choice(catalog.vhost_apps)
                tid = f"{app.strip('/').replace('/', '_')}.ev{i}"
                state = "TASK_RUNNING"
                pending.append((app, tid))
            else:
                app, tid = pending.pop()
                state = "TASK_KILLED"
            data = status_event(stand_in, app, tid, fake_host(0xF00000 + i), 32000 + i % 1000, state)
            start = time.time()
            stand_in.send_raw(data)
            got = proxy.tail.wait(PUBLISHED, 5)
            if got is None:
                misses += 1
                continue
            control.append(float(got[1].group(6)) + float(got[1].group(7)))
            e2p.append((got[0] - start) * 1000)
        changes_window = (changes_start, time.time())
        res.update(changes=len(control), change_misses=misses,
                   change_p50_ms=percentile(control, 50), change_p99_ms=percentile(control, 99),
                   change_max_ms=max(control or [float("nan")]),
                   e2p_p50_ms=percentile(e2p, 50), e2p_p99_ms=percentile(e2p, 99))
        log(f"  one change ({len(control)}, {misses} missed): control loop p50 "
            f"{res['change_p50_ms'] * 1000:.0f} us, p99 {res['change_p99_ms'] * 1000:.0f} us, max "
            f"{res['change_max_ms'] * 1000:.0f} us; event -> published p50 {res['e2p_p50_ms']:.2f} ms, "
            f"p99 {res['e2p_p99_ms']:.2f} ms")

        # 4. A burst of distinct-app changes in one write.
        burst = min(args.burst, len(catalog.vhost_apps))
        apps = rng.sample(catalog.vhost_apps, burst)
        proxy.tail.lines()
        blob = b"".join(status_event(stand_in, a, f"{a.strip('/').replace('/', '_')}.burst",
                                     fake_host(0xF10000 + k), 33000 + k, "TASK_RUNNING")
                        for k, a in enumerate(apps))
        start = time.time()
        stand_in.send_raw(blob)
        # Done when the published snapshots changed every app of the burst
        # (each event changes its own app); no /metrics scrape meanwhile.
        snapshots, last, burst_control, changed = 0, start, 0.0, 0
        end = time.monotonic() + 60
        while changed < burst and time.monotonic() < end:
            got = proxy.tail.wait(PUBLISHED, 1.0)
            if got is None:
                continue
            snapshots += 1
            last = got[0]
            changed += int(got[1].group(4)) + int(got[1].group(3))
            burst_control += float(got[1].group(6)) + float(got[1].group(7))
        res["burst_changed"] = changed
        res.update(burst=burst, burst_snapshots=snapshots, burst_ms=(last - start) * 1000,
                   burst_control_ms=burst_control)
        burst_window = (start, last)
        log(f"  burst of {burst}: {snapshots} snapshots, last published after {res['burst_ms']:.1f} ms, "
            f"control loop {burst_control:.2f} ms in all")

        # 5. Idle keep-alive connections (the probe's figures stop here: the
        # 5,000 requests opening them queue at the one backend it shares).
        time.sleep(0.5)
        idle_start = time.time()
        rss0 = rss_kib(proxy.proc.pid)
        loop = asyncio.new_event_loop()
        t = time.monotonic()
        conns = loop.run_until_complete(open_idle(IP, proxy.http, PROBE_HOST, args.idle_conns))
        opened_s = time.monotonic() - t
        time.sleep(0.5)
        rss1 = rss_kib(proxy.proc.pid)
        res["idle_conns"] = len(conns)
        res["bytes_per_idle_conn"] = (rss1 - rss0) * 1024 / max(1, len(conns))
        for w in conns:
            w.close()
        loop.run_until_complete(asyncio.sleep(0.1))
        loop.close()
        log(f"  {len(conns)} idle keep-alive connections (opened in {opened_s:.1f} s): RSS +"
            f"{(rss1 - rss0) / 1024:.1f} MiB, {res['bytes_per_idle_conn']:.0f} B per connection")
    finally:
        stop_at = time.time()
        probe.terminate()  # it prints what it measured and exits
        try:
            out, _ = probe.communicate(timeout=30)
            pr = json.loads(out) if out.strip() else {"rows": [], "errors": 0}
        except (subprocess.TimeoutExpired, ValueError):
            probe.kill()
            probe.wait()
            pr = {"rows": [], "errors": -1}
        proxy.stop()
        stand_in.stop()
    res["load_after"] = loadavg()
    rows = [r for r in pr["rows"] if r[0] <= stop_at]
    res["probe_all"] = probe_stats(rows, None, idle_start)
    res["probe_steady"] = probe_stats(rows, *steady_window)
    res["probe_first_build"] = probe_stats(rows, *build_window)
    res["probe_changes"] = probe_stats(rows, *changes_window)
    res["probe_burst"] = probe_stats(rows, *burst_window)
    res["probe_scrape"] = probe_stats(rows, *scrape_window)
    res["probe_errors"] = sum(1 for r in rows if r[2] == 0)
    res["probe_sent"] = len(rows)
    res["probe_skipped"] = pr.get("skipped", 0)
    log(f"  probe ({args.probe_rate:.0f}/s, {len(rows)} requests, {res['probe_errors']} failed, "
        f"{res['probe_skipped']} slots skipped): "
        f"quiet p50 {res['probe_steady']['p50']:.2f} p99 {res['probe_steady']['p99']:.2f} max "
        f"{res['probe_steady']['max']:.2f} ms; max during the first build {res['probe_first_build']['max']:.2f} ms "
        f"({res['probe_first_build']['n']} requests), the one-change series {res['probe_changes']['max']:.2f} ms, "
        f"the burst {res['probe_burst']['max']:.2f} ms, a /metrics scrape {res['probe_scrape']['max']:.2f} ms; "
        f"until the idle connections p99 {res['probe_all']['p99']:.2f} ms")
    return res


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    model = "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corral", default=os.path.join(ROOT, "build", "cli", "corral"))
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--service-apps", type=int, default=1000)
    ap.add_argument("--idle-conns", type=int, default=5000)
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--burst", type=int, default=500)
    ap.add_argument("--probe-rate", type=float, default=200)
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    args.corral = os.path.abspath(args.corral)
    if not os.access(args.corral, os.X_OK):
        sys.exit(f"{args.corral} is not built: run scripts/build.sh corral")
    os.sched_setaffinity(0, {1 % os.cpu_count()})  # the proxy has core 0 to itself
    work = tempfile.mkdtemp(prefix="corral-proxy-scale-")
    backend_port = free_port(BACKEND_IP)
    backend = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-c", BACKEND_CODE,
                                BACKEND_IP, str(backend_port)])
    try:
        wait_for(lambda: socket.create_connection((BACKEND_IP, backend_port), timeout=1).close() or True,
                 10, "the backend")
        # RSS of a proxy with nothing but the probe app: the baseline per route.
        empty = StandIn(build_catalog(0, 0, backend_port, 0))
        proxy = Proxy(args.corral, empty, work, "proxy-empty")
        try:
            wait_for(lambda: http_status(IP, proxy.http, PROBE_HOST) == 200, 30, "an empty proxy")
            time.sleep(1.0)
            empty_rss = rss_kib(proxy.proc.pid)
        finally:
            proxy.stop()
            empty.stop()
        log(f"corral proxy RSS with an empty catalog: {empty_rss / 1024:.1f} MiB")
        rows = [measure(args, int(s), work, empty_rss, backend_port) for s in args.sizes.split(",")]
    finally:
        backend.terminate()
        backend.wait(10)
    report(args, rows, empty_rss)


def report(args, rows, empty_rss):
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    cmd = " ".join(["/usr/bin/python3 bench/proxy_scale.py"] + sys.argv[1:])
    lines = [
        f"Run {when} on {machine()}; `corral proxy --workers 1` pinned to core 0 (control loop and "
        f"worker share it), stand-in, probe and backend on core 1. Command: `{cmd}`.",
        "",
        "| routes (apps, tasks) | service listeners | first snapshot: start → catalog read → routes live (s) "
        "| registry load / first build + publish (ms) | RSS (MiB) / bytes per route | one change: control loop "
        "p50 / p99 / max (µs) | event → published p50 / p99 (ms) | burst of N → snapshots (last after ms) "
        "| probe quiet p50 / p99 / max (ms) | probe max during first build / one-change series / burst / "
        "a /metrics scrape (ms) | /metrics scrape (ms) "
        "| bytes per idle conn (N) | load avg before / after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['routes']:,} ({r['apps']:,}, {r['tasks']:,}) | {r['listeners']:,} "
            f"| {r['catalog_served_s']:.2f} → {r['start_to_live_s']:.2f} "
            f"| {r['registry_load_ms']:.0f} / {r['first_build_ms']:.1f} + {r['first_publish_ms']:.1f} "
            f"| {r['rss_mib']:.0f} / {r['bytes_per_route']:.0f} "
            f"| {r['change_p50_ms'] * 1000:.0f} / {r['change_p99_ms'] * 1000:.0f} / {r['change_max_ms'] * 1000:.0f} "
            f"| {r['e2p_p50_ms']:.2f} / {r['e2p_p99_ms']:.2f} "
            f"| {r['burst']} → {r['burst_snapshots']} ({r['burst_ms']:.1f}) "
            f"| {r['probe_steady']['p50']:.1f} / {r['probe_steady']['p99']:.1f} / {r['probe_steady']['max']:.1f} "
            f"| {r['probe_first_build']['max']:.1f} / {r['probe_changes']['max']:.1f} / {r['probe_burst']['max']:.1f} / "
            f"{r['probe_scrape']['max']:.1f} | {r['metrics_scrape_ms']:.0f} "
            f"| {r['bytes_per_idle_conn']:.0f} ({r['idle_conns']:,}) "
            f"| {r['load_before']} / {r['load_after']} |")
    text = "\n".join(lines) + (f"\n\nRSS of corral proxy with an empty catalog: {empty_rss / 1024:.1f} MiB; "
                               f"probe: {args.probe_rate:.0f} requests/s on one keep-alive "
                               f"connection through the worker to a backend, latency from send to answer.\n")
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"when": when, "machine": machine(), "command": cmd, "empty_rss_mib": empty_rss / 1024,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
