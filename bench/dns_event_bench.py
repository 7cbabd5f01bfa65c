#!/usr/bin/python3
"""Event -> changed DNS answer latency of `corral dns` at catalog sizes.

For each size (tasks) the bench starts its own Marathon stand-in (in this
process, no process per task: it serves /v2/leader, /v2/apps?embed=apps.tasks
from memory and one /v2/events SSE stream it writes events into) and a real
`corral dns --workers 1` following it, then:

1. Memory: RSS of corral dns (/proc/PID/status VmRSS) once the catalog is
   loaded, minus the RSS of a corral dns following an empty stand-in,
   divided by the tasks.
2. Event -> answer: --events times, alternately a new task (status_update_event
   TASK_RUNNING with its own address) and its end (TASK_KILLED) on a random
   app; the clock starts just before the event is written to the stream and
   stops at the first UDP answer for the app's A name that shows the change
   (raw queries in a tight loop, loopback). p50/p99.
3. Harness overhead, the same steps with nothing to wait for: an SSE
   comment written to the stream, then the same poll of a name whose answer
   is already right (one query round trip plus the write). p50/p99.
4. Bursts: --burst new tasks (on --burst different apps) written back to
   back, then their --burst ends: time until the last one is visible, and
   how many registry snapshots / zone publishes each burst produced
   (corral dns /metrics counters before/after).

Bounded everywhere: every wait has a timeout, every loop a count.
Usage: bench/dns_event_bench.py [--corral build/cli/corral] [--sizes 1000,10000,30000,100000]
                                [--tasks-per-app 10] [--events 60] [--burst 500]
                                [--markdown out.md]
"""
import argparse
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAGENTS = 50

sys.path.insert(0, HERE)
from marathon_standin import (StandIn, cpu_seconds, free_port, metric, metrics,  # noqa: E402
                              percentile, rss_kib, wait_for)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ stand-in

def agent_of(n):
    """Agent id and host of task n: one host per agent, as in Mesos."""
    j = n % NAGENTS
    return f"bench-agent-S{j}", f"127.0.{20 + j // 250}.{j % 250 + 1}"


def task_json(app_id, task_id, n, ip=None, state="TASK_RUNNING"):
    agent, host = agent_of(n)
    t = {"id": task_id, "appId": app_id, "host": host, "slaveId": agent,
         "ports": [20000 + n % 40000], "servicePorts": [10000], "state": state,
         "version": "2026-01-01T00:00:00.000Z", "startedAt": "2026-01-01T00:00:01.000Z"}
    t["ipAddresses"] = [{"ipAddress": ip or host, "protocol": "IPv4"}]
    return t


class Catalog:
    def __init__(self, tasks, per_app):
        self.apps = []
        n = 0
        for a in range((tasks + per_app - 1) // per_app):
            app_id = f"/bench/app{a:05d}"
            count = min(per_app, tasks - n)
            ts = [task_json(app_id, f"bench_app{a:05d}.t{i}", n + i) for i in range(count)]
            n += count
            self.apps.append({"id": app_id, "instances": count, "version": "2026-01-01T00:00:00.000Z",
                              "portDefinitions": [{"port": 10000, "name": "http", "protocol": "tcp"}],
                              "healthChecks": [], "labels": {}, "tasks": ts})
        self.body = json.dumps({"apps": self.apps}).encode()


def status_event(stand_in, app_id, task_id, n, ip, state):
    """A status_update_event for task n of app_id, as stream bytes."""
    agent, host = agent_of(n)
    return stand_in.event_bytes("status_update_event", {
        "eventType": "status_update_event", "appId": app_id, "taskId": task_id,
        "taskStatus": state, "host": host, "slaveId": agent, "ports": [20000 + n % 40000],
        "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"}],
        "version": "2026-01-01T00:00:00.000Z", "timestamp": "2026-01-01T00:00:02.000Z"})


# ---------------------------------------------------------------- DNS client

def make_query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


class Poller:
    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.qid = 0
        self.qid_total = 0

    def ask(self, name):
        self.qid = (self.qid + 1) & 0xFFFF
        self.qid_total += 1
        q = make_query(self.qid, name)
        self.sock.send(q)
        while True:
            try:
                r = self.sock.recv(65535)
            except socket.timeout:
                return None
            if len(r) >= 2 and struct.unpack(">H", r[:2])[0] == self.qid:
                return r

    def wait(self, name, pred, timeout=5.0, max_queries=2_000_000, pause=0.0):
        """Polls until pred(answer); `pause` seconds between queries leaves
        the server's CPU to the update when timing long bursts."""
        end = time.perf_counter() + timeout
        for _ in range(max_queries):
            r = self.ask(name)
            if r is not None and pred(r):
                return time.perf_counter()
            if time.perf_counter() > end:
                return None
            if pause:
                time.sleep(pause)
        return None


def has_ip(ip):
    b = socket.inet_aton(ip)
    return lambda r: b in r[12:]


def lacks_ip(ip):
    b = socket.inet_aton(ip)
    return lambda r: b not in r[12:]


# ------------------------------------------------------------------ corral

def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Dns:
    def __init__(self, corral, stand_in, work, cpu):
        self.port, self.http = free_port(), free_port()
        self.logf = open(os.path.join(work, f"dns-{self.port}.log"), "w")
        cmd = [corral, "dns", "--listen", f"127.0.0.1:{self.port}", "--http-listen",
               f"127.0.0.1:{self.http}", "--master", stand_in.address, "--workers", "1",
               "--no-forward"]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT)
        wait_for(lambda: metric(metrics(self.http), "corral_registry_connected") == 1, 30,
                 "corral dns connected")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.logf.close()


# ------------------------------------------------------------------- bench

def measure_size(args, tasks, work, empty_rss):
    per_app = args.tasks_per_app
    t0 = time.monotonic()
    catalog = Catalog(tasks, per_app)
    stand_in = StandIn(catalog)
    napps = len(catalog.apps)
    log(f"{tasks} tasks in {napps} apps; catalog JSON {len(catalog.body) / 1e6:.1f} MB")
    dns = Dns(args.corral, stand_in, work, args.cpu)
    res = {"tasks": tasks, "apps": napps}
    try:
        if not stand_in.stream_ready.wait(30):
            raise RuntimeError("corral dns did not open /v2/events")
        poll = Poller(dns.port)
        last = catalog.apps[-1]
        last_ip = last["tasks"][-1]["ipAddresses"][0]["ipAddress"]
        name_of = lambda app_id: app_id.strip("/").split("/")[1] + "-bench.marathon.mesos"
        if poll.wait(name_of(last["id"]), has_ip(last_ip), timeout=120) is None:
            raise RuntimeError("the catalog never showed up in DNS")
        res["load_s"] = time.monotonic() - t0
        time.sleep(1.0)  # let the initial load's garbage settle before RSS
        rss = rss_kib(dns.proc.pid)
        res["rss_mib"] = rss / 1024
        res["bytes_per_task"] = (rss - empty_rss) * 1024 / tasks
        log(f"loaded in {res['load_s']:.1f} s; RSS {rss / 1024:.1f} MiB, "
            f"{res['bytes_per_task']:.0f} B/task over an empty catalog")

        rng = random.Random(tasks)
        # Harness overhead: write (a comment) + poll of an answer already right.
        over = []
        for i in range(args.events):
            app = catalog.apps[rng.randrange(napps)]
            ip = app["tasks"][0]["ipAddresses"][0]["ipAddress"]
            start = time.perf_counter()
            stand_in.send_raw(b": nothing\n\n")
            t = poll.wait(name_of(app["id"]), has_ip(ip), timeout=2)
            if t is not None:
                over.append((t - start) * 1000)
        # Event -> changed answer: a new task, then its end.
        lat_add, lat_del, misses = [], [], 0
        m0, cpu0, polls0 = metrics(dns.http), cpu_seconds(dns.proc.pid), poll.qid_total
        for i in range(args.events):
            app = catalog.apps[rng.randrange(napps)]
            n = rng.randrange(1 << 20)
            ip = f"10.{100 + i % 100}.{(n >> 8) & 255}.{n & 255}"
            task_id = f"{app['id'].strip('/').replace('/', '_')}.ev{i}"
            name = name_of(app["id"])
            for state, pred, sink in (("TASK_RUNNING", has_ip(ip), lat_add),
                                      ("TASK_KILLED", lacks_ip(ip), lat_del)):
                data = status_event(stand_in, app["id"], task_id, n, ip, state)
                start = time.perf_counter()
                stand_in.send_raw(data)
                t = poll.wait(name, pred, timeout=5)
                if t is None:
                    misses += 1
                else:
                    sink.append((t - start) * 1000)
        lat = lat_add + lat_del
        m1, cpu1, polls1 = metrics(dns.http), cpu_seconds(dns.proc.pid), poll.qid_total
        builds = metric(m1, "corral_dns_zone_build_seconds_count") - metric(
            m0, "corral_dns_zone_build_seconds_count")
        build_s = metric(m1, "corral_dns_zone_build_seconds_sum") - metric(
            m0, "corral_dns_zone_build_seconds_sum")
        res["build_mean_ms"] = build_s / builds * 1000 if builds else float("nan")
        res["cpu_ms_per_event"] = (cpu1 - cpu0) * 1000 / max(1, len(lat))
        res["polls_per_event"] = (polls1 - polls0) / max(1, len(lat))
        res["load"] = loadavg()
        log(f"zone update (incremental, in corral dns) mean {res['build_mean_ms']:.2f} ms over "
            f"{int(builds)} updates; corral dns CPU {res['cpu_ms_per_event']:.2f} ms per event "
            f"(including answering {res['polls_per_event']:.0f} polls); load {res['load']}")
        res.update(events=len(lat), misses=misses,
                   p50=percentile(lat, 50), p99=percentile(lat, 99), max=max(lat or [0]),
                   add_p50=percentile(lat_add, 50), add_p99=percentile(lat_add, 99),
                   del_p50=percentile(lat_del, 50), del_p99=percentile(lat_del, 99),
                   over_p50=percentile(over, 50), over_p99=percentile(over, 99))
        log(f"event -> answer over {len(lat)} events: p50 {res['p50']:.2f} ms, "
            f"p99 {res['p99']:.2f} ms, max {res['max']:.2f} ms ({misses} missed); "
            f"harness overhead p50 {res['over_p50']:.3f} ms p99 {res['over_p99']:.3f} ms")

        # Bursts: --burst new tasks on different apps back to back, then their ends.
        burst = min(args.burst, napps)
        apps = rng.sample(catalog.apps, burst)
        for phase, state in (("up", "TASK_RUNNING"), ("down", "TASK_KILLED")):
            before = metrics(dns.http)
            blob = b"".join(status_event(stand_in, a["id"], f"{a['id'].strip('/').replace('/', '_')}.burst",
                                                  k, f"10.250.{k >> 8}.{k & 255}", state)
                            for k, a in enumerate(apps))
            k = burst - 1
            pred = has_ip(f"10.250.{k >> 8}.{k & 255}")
            if state == "TASK_KILLED":
                pred = lacks_ip(f"10.250.{k >> 8}.{k & 255}")
            start = time.perf_counter()
            stand_in.send_raw(blob)
            t = poll.wait(name_of(apps[-1]["id"]), pred, timeout=30, pause=0.001)
            # Every burst event is in once the last is; allow the counters to settle.
            time.sleep(0.3)
            after = metrics(dns.http)
            res[f"burst_{phase}_ms"] = (t - start) * 1000 if t else float("nan")
            res[f"burst_{phase}_publishes"] = int(metric(after, "corral_dns_zone_updates_total") -
                                                  metric(before, "corral_dns_zone_updates_total"))
            res[f"burst_{phase}_snapshots"] = int(
                metric(after, "corral_registry_snapshot_version") -
                metric(before, "corral_registry_snapshot_version"))
            res[f"burst_{phase}_applied"] = int(
                metric(after, "corral_registry_events_applied_total") -
                metric(before, "corral_registry_events_applied_total"))
            log(f"burst {phase} of {burst}: last visible after {res[f'burst_{phase}_ms']:.1f} ms; "
                f"{res[f'burst_{phase}_applied']} events applied, "
                f"{res[f'burst_{phase}_snapshots']} snapshots, "
                f"{res[f'burst_{phase}_publishes']} zone publishes")
        res["burst"] = burst
        res["rss_after_mib"] = rss_kib(dns.proc.pid) / 1024
    finally:
        dns.stop()
        stand_in.stop()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corral", default=os.path.join(ROOT, "build", "cli", "corral"))
    ap.add_argument("--sizes", default="1000,10000,30000,100000")
    ap.add_argument("--tasks-per-app", type=int, default=10)
    ap.add_argument("--events", type=int, default=60, help="changes per size (each: add + remove)")
    ap.add_argument("--burst", type=int, default=500)
    ap.add_argument("--cpu", type=int, default=-1,
                    help="pin corral dns to this CPU (-1: no pin; its update and worker threads "
                         "then do not share one CPU)")
    ap.add_argument("--markdown", help="write the results table here")
    ap.add_argument("--json", help="write the rows here (bench/dns_all.py reads it)")
    args = ap.parse_args()
    args.corral = os.path.abspath(args.corral)
    if args.cpu < 0:
        args.cpu = None
    if not os.path.exists(args.corral):
        sys.exit(f"missing {args.corral}")
    work = tempfile.mkdtemp(prefix="corral-dnsevent-")

    # RSS of corral dns with an empty catalog: the baseline for bytes per task.
    empty = StandIn(Catalog(0, 1))
    dns = Dns(args.corral, empty, work, args.cpu)
    empty.stream_ready.wait(30)
    time.sleep(0.5)
    empty_rss = rss_kib(dns.proc.pid)
    dns.stop()
    empty.stop()
    log(f"corral dns RSS with an empty catalog: {empty_rss / 1024:.1f} MiB")

    rows = [measure_size(args, int(s), work, empty_rss) for s in args.sizes.split(",")]
    table = ["| tasks (apps) | event → answer p50 / p99 / max (ms) | add p50 / p99 | remove p50 / p99 "
             "| harness overhead p50 / p99 (ms) | burst of N up / down (ms) | burst snapshots / publishes (up; down) "
             "| RSS (MiB) | bytes / task | zone update mean (ms) | corral dns CPU per event (ms) | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(
            f"| {r['tasks']:,} ({r['apps']:,}) | {r['p50']:.2f} / {r['p99']:.2f} / {r['max']:.2f} "
            f"({r['events']} events, {r['misses']} missed) "
            f"| {r['add_p50']:.2f} / {r['add_p99']:.2f} | {r['del_p50']:.2f} / {r['del_p99']:.2f} "
            f"| {r['over_p50']:.3f} / {r['over_p99']:.3f} "
            f"| N={r['burst']}: {r['burst_up_ms']:.1f} / {r['burst_down_ms']:.1f} "
            f"| {r['burst_up_snapshots']} / {r['burst_up_publishes']}; "
            f"{r['burst_down_snapshots']} / {r['burst_down_publishes']} "
            f"| {r['rss_mib']:.1f} | {r['bytes_per_task']:.0f} | {r['build_mean_ms']:.2f} "
            f"| {r['cpu_ms_per_event']:.2f} ({r['polls_per_event']:.0f} polls) | {r['load']} |")
    text = "\n".join(table) + f"\n\nRSS of corral dns with an empty catalog: {empty_rss / 1024:.1f} MiB.\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "empty_rss_mib": empty_rss / 1024}, f, indent=1)


if __name__ == "__main__":
    main()
