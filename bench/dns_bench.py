#!/usr/bin/python3
"""corral dns vs NSD and Knot DNS, side by side in one run, plus event -> answer latency.

1. Starts a corral master and two agents, creates --apps apps of --tasks
   tasks each (`sleep` tasks: no health checks, one named port), and a
   `corral dns --workers 1` following the master.
2. Reads back, with dig, every record corral serves for those apps (A, SRV
   with the targets' A records, the apex SOA and NS) and writes an NSD zone
   file with exactly those records; starts NSD in the foreground on its own
   config in a temp dir.
3. dnsperf against each server in alternating rounds (ours, theirs, ...),
   the server pinned to core 0 and dnsperf to core 1; medians of queries/s
   and queries per CPU-second of the server (utime+stime from /proc, the
   whole process tree, before/after each round).
4. Event -> answer: scales an app up and down --changes times; for each
   change, the time from the API call and from the scheduler event (as seen
   by this script on its own /v2/events stream) to the first DNS answer that
   shows it (a tight loop of raw UDP queries); plus corral's
   corral_dns_event_to_zone_seconds histogram over the run.

Usage: bench/dns_bench.py [--corral build/cli/corral] [--rounds 3] [--seconds 10]
                          [--apps 100] [--tasks 3] [--changes 20] [--markdown out.md]
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port(ip="127.0.0.1"):
    """A port free for TCP and UDP on ip (bind port 0 first)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind((ip, 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((ip, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port on " + ip)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Procs:
    """Children in their own process groups, all stopped at exit."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.children = []

    def start(self, name, args, cpu=None):
        if cpu is not None:
            args = ["taskset", "-c", str(cpu)] + args
        logf = open(os.path.join(self.workdir, name + ".log"), "ab")
        p = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.children.append((name, p))
        return p

    def stop(self, p, grace=5):
        if p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(grace)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()

    def stop_all(self):
        for _, p in reversed(self.children):
            self.stop(p)


def http_json(host, port, method, path, body=None, timeout=10):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, data.decode(errors="replace")


def http_text(host, port, path):
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", path)
    data = c.getresponse().read().decode()
    c.close()
    return data


def wait_for(pred, timeout, what, interval=0.05):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if pred():
                return
        except (OSError, http.client.HTTPException, ValueError):
            pass
        time.sleep(interval)
    raise RuntimeError("timed out waiting for " + what)


def proc_tree_cpu(pid):
    """utime+stime (seconds) of pid and all its descendants, from /proc/<pid>/stat."""
    parents = {}
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
        parents[int(d)] = int(rest[1])
        stats[int(d)] = (int(rest[11]) + int(rest[12])) / CLK_TCK
    tree, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p in tree:
            continue
        tree.add(p)
        todo.extend(c for c, pp in parents.items() if pp == p)
    return sum(stats.get(p, 0.0) for p in tree)


# ----------------------------------------------------------------- DNS wire


def make_query(qid, name, qtype):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", qtype, 1)


def answer_count(sock, qid, name, qtype, timeout=0.5):
    """Sends one query, returns (rcode, ancount) or None on timeout."""
    sock.settimeout(timeout)
    sock.send(make_query(qid, name, qtype))
    while True:
        try:
            data = sock.recv(4096)
        except socket.timeout:
            return None
        if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
            return data[3] & 0x0F, struct.unpack(">H", data[6:8])[0]


def dig(server, port, *args):
    out = subprocess.run(["/usr/bin/dig", "@" + server, "-p", str(port), "+time=2", "+tries=2",
                          "+norecurse"] + list(args), capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines() if line and not line.startswith(";")]


# ------------------------------------------------------------------- dnsperf


def dnsperf(port, queryfile, seconds, clients, max_qps, cpu):
    cmd = ["taskset", "-c", str(cpu), "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d",
           queryfile, "-l", str(seconds), "-c", str(clients), "-q", "200"]
    if max_qps:
        cmd += ["-Q", str(max_qps)]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout

    def grab(pattern, cast=float):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else None

    return {
        "qps": grab(r"Queries per second:\s+([\d.]+)"),
        "sent": grab(r"Queries sent:\s+(\d+)", int),
        "completed": grab(r"Queries completed:\s+(\d+)", int),
        "lost": grab(r"Queries lost:\s+(\d+)", int),
        "latency_ms": (grab(r"Average Latency \(s\):\s+([\d.]+)") or 0) * 1000,
        "rcodes": (re.search(r"Response codes:\s+(.*)", out) or [None, ""])[1],
        "cmd": " ".join(cmd),
        "raw": out,
    }


def run_round(name, pid, port, args):
    before = proc_tree_cpu(pid)
    r = dnsperf(port, args.queryfile, args.seconds, args.clients, args.max_qps, 1)
    used = proc_tree_cpu(pid) - before
    r["cpu_s"] = used
    r["q_per_cpu_s"] = (r["completed"] or 0) / used if used > 0 else float("nan")
    log(f"  {name:<6} {r['qps'] or 0:>10.0f} q/s  {r['q_per_cpu_s']:>10.0f} q/CPU-s  "
        f"cpu {used:.2f}s  lost {r['lost']}  avg {r['latency_ms']:.3f} ms  [{r['rcodes']}]")
    return r


# ----------------------------------------------------------------- SSE tap


class EventTap(threading.Thread):
    """Reads the master's /v2/events and timestamps status updates on arrival."""

    def __init__(self, host, port):
        super().__init__(daemon=True)
        self.host, self.port = host, port
        self.events = []  # (monotonic, appId, taskStatus)
        self.lock = threading.Lock()
        self.ready = threading.Event()

    def run(self):
        c = http.client.HTTPConnection(self.host, self.port)
        c.request("GET", "/v2/events", headers={"Accept": "text/event-stream"})
        r = c.getresponse()
        self.ready.set()
        etype = None
        while True:
            line = r.readline()
            if not line:
                return
            now = time.monotonic()
            line = line.decode(errors="replace").rstrip("\r\n")
            if line.startswith("event:"):
                etype = line[6:].strip()
            elif line.startswith("data:") and etype == "status_update_event":
                try:
                    d = json.loads(line[5:])
                except ValueError:
                    continue
                with self.lock:
                    self.events.append((now, d.get("appId"), d.get("taskStatus")))

    def first_after(self, t0, app, statuses):
        with self.lock:
            for t, a, s in self.events:
                if t >= t0 and a == app and s in statuses:
                    return t
        return None


# -------------------------------------------------------------------- main


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def histogram(metrics_text, name):
    buckets, total, count = {}, 0.0, 0
    for line in metrics_text.splitlines():
        m = re.match(name + r'_bucket\{le="([^"]+)"\} ([\d.e+-]+)', line)
        if m:
            buckets[m.group(1)] = float(m.group(2))
        elif line.startswith(name + "_sum"):
            total = float(line.split()[-1])
        elif line.startswith(name + "_count"):
            count = float(line.split()[-1])
    return buckets, total, count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corral", default=os.path.join(ROOT, "build", "cli", "corral"))
    ap.add_argument("--nsd", default="/usr/sbin/nsd")
    ap.add_argument("--knot", default="/usr/sbin/knotd", help="Knot DNS daemon ('' to skip Knot)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--max-qps", type=int, default=0, help="dnsperf -Q (0: unthrottled)")
    ap.add_argument("--apps", type=int, default=100)
    ap.add_argument("--tasks", type=int, default=3)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--markdown", help="write the results table here")
    ap.add_argument("--json", help="write the medians and ratios here (bench/dns_all.py reads it)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    corral = os.path.abspath(args.corral)
    for tool in (corral, args.nsd, "/usr/bin/dig", shutil.which("dnsperf"), shutil.which("taskset")):
        if not tool or not os.path.exists(tool):
            sys.exit(f"missing tool: {tool}")

    work = tempfile.mkdtemp(prefix="corral-dnsbench-")
    procs = Procs(work)
    try:
        return bench(args, corral, work, procs)
    finally:
        procs.stop_all()
        # Tasks run in their own process groups under the agents' work dirs.
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.readlink(f"/proc/{d}/cwd").startswith(work):
                        os.kill(int(d), signal.SIGKILL)
                except OSError:
                    pass
        if args.keep:
            log("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def bench(args, corral, work, procs):
    # ------------------------------------------------------------ cluster
    mip, mport = "127.0.6.1", free_port("127.0.6.1")
    procs.start("master", [corral, "master", "--listen", f"{mip}:{mport}", "--work-dir",
                           os.path.join(work, "master")])
    wait_for(lambda: http_json(mip, mport, "GET", "/ping")[0] == 200, 15, "master")
    per_agent = (args.apps * args.tasks + 1) // 2 + 50
    for i in (2, 3):
        ip = f"127.0.6.{i}"
        procs.start(f"agent{i}", [
            corral, "agent", "--ip", ip, "--port", str(free_port(ip)), "--master", f"{mip}:{mport}",
            "--resources", f"cpus:64;mem:65536;disk:10000;ports:[31000-{31000 + per_agent}]",
            "--work-dir", os.path.join(work, f"agent{i}")])
    wait_for(lambda: sum(a.get("status") == "ACTIVE" for a in
                         http_json(mip, mport, "GET", "/v1/agents")[1]["agents"]) == 2, 20, "agents")
    dport, dhttp = free_port(), free_port()
    dns = procs.start("dns", [corral, "dns", "--listen", f"127.0.0.1:{dport}", "--http-listen",
                              f"127.0.0.1:{dhttp}", "--master", f"{mip}:{mport}", "--workers", "1",
                              "--no-forward"], cpu=0)
    wait_for(lambda: "corral_registry_connected{consumer=\"dns\"} 1" in
             http_text("127.0.0.1", dhttp, "/metrics"), 10, "corral dns")

    apps = [f"app{i:03d}" for i in range(args.apps)]
    t0 = time.monotonic()
    for a in apps:
        st, body = http_json(mip, mport, "POST", "/v2/apps", {
            "id": "/" + a, "cmd": "exec sleep 1000000", "instances": args.tasks, "cpus": 0.01,
            "mem": 1, "portDefinitions": [{"port": 0, "name": "http"}]})
        if st != 201:
            raise RuntimeError(f"create {a}: {st} {body}")

    def all_running():
        _, body = http_json(mip, mport, "GET", "/v2/tasks")
        return sum(t.get("state") == "TASK_RUNNING" for t in body["tasks"]) == len(apps) * args.tasks

    wait_for(all_running, 120, "all tasks running", 0.5)
    wait_for(lambda: len(dig("127.0.0.1", dport, "+short", "SRV",
                             f"_{apps[-1]}._tcp.marathon.mesos")) == args.tasks, 10, "dns zone")
    log(f"{len(apps)} apps x {args.tasks} tasks running after {time.monotonic() - t0:.1f} s")

    # ------------------------------------------- the same records for NSD
    records = set()

    def add(rows):
        for r in rows:
            if len(r) >= 5 and r[2] == "IN":
                records.add((r[0].lower(), r[3], " ".join(r[4:])))

    add(dig("127.0.0.1", dport, "+noall", "+answer", "mesos", "SOA"))
    add(dig("127.0.0.1", dport, "+noall", "+answer", "+additional", "mesos", "NS"))
    for a in apps:
        add(dig("127.0.0.1", dport, "+noall", "+answer", f"{a}.marathon.mesos", "A"))
        add(dig("127.0.0.1", dport, "+noall", "+answer", "+additional", f"_{a}._tcp.marathon.mesos",
                "SRV"))
    ttl = next((r for r in dig("127.0.0.1", dport, "+noall", "+answer", "mesos", "SOA")), ["", "5"])[1]
    zone = os.path.join(work, "mesos.zone")
    with open(zone, "w") as f:
        f.write(f"$ORIGIN mesos.\n$TTL {ttl}\n")
        for name, rtype, rdata in sorted(records, key=lambda r: (r[1] != "SOA", r)):
            f.write(f"{name}\t{ttl}\tIN\t{rtype}\t{rdata}\n")
    counts = {}
    for _, t, _ in records:
        counts[t] = counts.get(t, 0) + 1
    log(f"zone for NSD: {len(records)} records {counts}")
    chk = subprocess.run(["nsd-checkzone", "mesos", zone], capture_output=True, text=True)
    if chk.returncode != 0:
        raise RuntimeError("nsd-checkzone: " + chk.stdout + chk.stderr)

    nport = free_port()
    conf = os.path.join(work, "nsd.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
  ip-address: 127.0.0.1@{nport}
  port: {nport}
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "{work}"
  database: ""
  zonelistfile: "{work}/zone.list"
  xfrdfile: "{work}/xfrd.state"
  pidfile: "{work}/nsd.pid"
  logfile: "{work}/nsd-internal.log"
  verbosity: 0
  hide-version: yes
  reuseport: no
  # Response rate limiting is on by default (200 q/s per source): off, or
  # NSD would drop most of a benchmark's answers.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: mesos
  zonefile: "{zone}"
""")
    nsd = procs.start("nsd", [args.nsd, "-d", "-c", conf], cpu=0)
    wait_for(lambda: dig("127.0.0.1", nport, "+short", "mesos", "SOA"), 10, "nsd")

    # Knot DNS on the same zone file, tuned for one core: one UDP worker,
    # the zone loaded whole and never written back, no journal, no RRL
    # module (Knot has no rate limiting unless mod-rrl is configured).
    knot, kport = None, None
    if args.knot and os.path.exists(args.knot):
        kport = free_port()
        kdir = os.path.join(work, "knot")
        os.makedirs(kdir, exist_ok=True)
        kconf = os.path.join(work, "knot.conf")
        with open(kconf, "w") as f:
            f.write(f"""server:
    rundir: "{kdir}"
    listen: 127.0.0.1@{kport}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    udp-max-payload: 1232
log:
  - target: stderr
    any: warning
database:
    storage: "{kdir}"
template:
  - id: default
    storage: "{work}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
  - domain: mesos
    file: "{zone}"
""")
        knot = procs.start("knot", [args.knot, "-c", kconf], cpu=0)
        wait_for(lambda: dig("127.0.0.1", kport, "+short", "mesos", "SOA"), 10, "knot")
    else:
        log("Knot DNS not found: comparing with NSD only")

    # Same answers? (the order of records aside) And the same message sizes.
    sizes = {}
    others = [("nsd", nport)] + ([("knot", kport)] if knot else [])
    for label, port in [("corral", dport)] + others:
        out = subprocess.run(["/usr/bin/dig", "@127.0.0.1", "-p", str(port), "+norecurse",
                              f"_{apps[0]}._tcp.marathon.mesos", "SRV"],
                             capture_output=True, text=True).stdout
        m = re.search(r"MSG SIZE\s+rcvd: (\d+)", out)
        sizes[label] = int(m.group(1)) if m else 0
    log(f"SRV response size: corral {sizes['corral']} B, NSD {sizes['nsd']} B")
    args.sizes = sizes
    for name, qtype in [(f"{apps[0]}.marathon.mesos", "A"), (f"_{apps[0]}._tcp.marathon.mesos", "SRV"),
                        ("nope.marathon.mesos", "A")]:
        ours = sorted(map(tuple, dig("127.0.0.1", dport, "+noall", "+answer", name, qtype)))
        for label, port in others:
            theirs = sorted(map(tuple, dig("127.0.0.1", port, "+noall", "+answer", name, qtype)))
            if ours != theirs:
                log(f"warning: answers differ for {name} {qtype} ({label}):\n  ours   {ours}\n"
                    f"  theirs {theirs}")

    # ----------------------------------------------------------- queries
    queries = []
    for a in apps:
        queries.append(f"{a}.marathon.mesos A")
        queries.append(f"_{a}._tcp.marathon.mesos SRV")
    for i in range(max(1, args.apps // 5)):
        queries.append(f"missing{i}.marathon.mesos A")
    random.Random(1).shuffle(queries)
    args.queryfile = os.path.join(work, "queries.txt")
    with open(args.queryfile, "w") as f:
        f.write("\n".join(queries) + "\n")
    log(f"query file: {len(queries)} queries (A, SRV, ~9% NXDOMAIN)")

    # -------------------------------------------------- alternating rounds
    results = {"corral": [], "nsd": [], "knot": []}
    servers = [("corral", dns.pid, dport), ("nsd", nsd.pid, nport)]
    if knot:
        servers.append(("knot", knot.pid, kport))
    for name, pid, port in servers:
        run_round("warmup", pid, port, argparse.Namespace(**{**vars(args), "seconds": 2}))
    for i in range(args.rounds):
        log(f"round {i + 1}/{args.rounds}")
        for name, pid, port in servers:
            results[name].append(run_round(name, pid, port, args))
    procs.stop(nsd)
    if knot:
        procs.stop(knot)

    # -------------------------------------------------- event -> answer
    metrics_before = http_text("127.0.0.1", dhttp, "/metrics")
    hist_before = histogram(metrics_before, "corral_dns_event_to_zone_seconds")
    build_before = histogram(metrics_before, "corral_dns_zone_build_seconds")
    tap = EventTap(mip, mport)
    tap.start()
    tap.ready.wait(5)
    time.sleep(0.2)
    st, body = http_json(mip, mport, "POST", "/v2/apps", {
        "id": "/latency", "cmd": "exec sleep 1000000", "instances": 1, "cpus": 0.01, "mem": 1,
        "portDefinitions": [{"port": 0, "name": "http"}]})
    assert st == 201, body
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", dport))
    name = "_latency._tcp.marathon.mesos"

    def srv_count():
        r = answer_count(sock, random.randrange(65536), name, 33)
        return None if r is None else r[1]

    wait_for(lambda: srv_count() == 1, 20, "latency app in DNS")
    api_to_dns, event_to_dns, lat = [], [], {}
    n = 1
    for i in range(args.changes):
        target = 2 if n == 1 else 1
        wait_for(lambda: not http_json(mip, mport, "GET", "/v2/deployments")[1], 20, "no deployment")
        time.sleep(0.3)
        t0 = time.monotonic()
        st, body = http_json(mip, mport, "PUT", "/v2/apps/latency", {"instances": target})
        assert st == 200, body
        seen = None
        while time.monotonic() - t0 < 5:
            if srv_count() == target:
                seen = time.monotonic()
                break
        if seen is None:
            log(f"  change {i}: not visible within 5 s")
            continue
        statuses = ("TASK_RUNNING",) if target > n else ("TASK_KILLED", "TASK_KILLING", "TASK_FINISHED")
        ev = tap.first_after(t0, "/latency", statuses)
        time.sleep(0.05)
        ev = ev or tap.first_after(t0, "/latency", statuses)
        api_to_dns.append((seen - t0) * 1000)
        if ev is not None:
            event_to_dns.append(max(0.0, (seen - ev) * 1000))
        n = target
    metrics_after = http_text("127.0.0.1", dhttp, "/metrics")
    hist_after = histogram(metrics_after, "corral_dns_event_to_zone_seconds")
    build_after = histogram(metrics_after, "corral_dns_zone_build_seconds")
    builds = build_after[2] - build_before[2]
    lat["build_mean"] = (build_after[1] - build_before[1]) / builds * 1000 if builds else float("nan")
    lat["records"] = next((float(l.split()[-1]) for l in metrics_after.splitlines()
                           if l.startswith("corral_dns_zone_records")), 0)
    lat.update({
        "api_p50": percentile(api_to_dns, 50), "api_p99": percentile(api_to_dns, 99),
        "api_max": max(api_to_dns) if api_to_dns else float("nan"),
        "ev_p50": percentile(event_to_dns, 50), "ev_p99": percentile(event_to_dns, 99),
        "ev_max": max(event_to_dns) if event_to_dns else float("nan"),
        "n_api": len(api_to_dns), "n_ev": len(event_to_dns),
    })
    log(f"API call -> DNS answer: p50 {lat['api_p50']:.1f} ms p99 {lat['api_p99']:.1f} ms "
        f"(n={lat['n_api']}); scheduler event -> DNS answer: p50 {lat['ev_p50']:.2f} ms "
        f"p99 {lat['ev_p99']:.2f} ms (n={lat['n_ev']})")
    hb, hs, hc = hist_before
    ab, as_, ac = hist_after
    hist_rows = [(le, ab.get(le, 0) - hb.get(le, 0)) for le in ab]
    hist_mean = (as_ - hs) / (ac - hc) * 1000 if ac > hc else float("nan")
    log("corral_dns_event_to_zone_seconds during the changes: " +
        ", ".join(f"le={le}: {int(v)}" for le, v in hist_rows) + f"; mean {hist_mean:.2f} ms")

    report(args, results, lat, hist_rows, hist_mean, ac - hc, counts, len(queries))
    return 0


def report(args, results, lat, hist_rows, hist_mean, hist_count, counts, nqueries):
    def rounds(name):
        return ", ".join(f"{r['qps']:,.0f}" for r in results[name])

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    c_qps, n_qps = med("corral", "qps"), med("nsd", "qps")
    c_cpu, n_cpu = med("corral", "q_per_cpu_s"), med("nsd", "q_per_cpu_s")
    c_lat, n_lat = med("corral", "latency_ms"), med("nsd", "latency_ms")
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name")), "?")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M %Z')} on {os.cpu_count()} CPUs ({model}), "
        f"load average at the end {' '.join(load)}.",
        "",
        f"Zone: {args.apps} apps x {args.tasks} tasks from a real master + 2 agents; "
        f"{sum(counts.values())} records ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}). "
        f"Query file: {nqueries} names (A, SRV, and ~9% unknown names answering NXDOMAIN), shuffled.",
        "",
        f"dnsperf: `{re.sub(r'-p [0-9]+', '-p PORT', results['corral'][0]['cmd'])}`, "
        f"{args.rounds} alternating rounds per server after a 2 s warm-up each; servers pinned with "
        "`taskset -c 0` (corral: `corral dns --workers 1 --no-forward`; NSD 4.6.1: `nsd -d`, "
        "`server-count: 1`), dnsperf with `taskset -c 1`. CPU = utime+stime of the server's process "
        "tree from /proc during the round. NSD has response rate limiting turned off "
        "(`rrl-ratelimit: 0`), otherwise it drops most answers. An SRV answer (3 targets with "
        f"their A records in additional) is {args.sizes['corral']} bytes from corral and "
        f"{args.sizes['nsd']} bytes from NSD"
        + (f", {args.sizes['knot']} bytes from Knot DNS" if "knot" in args.sizes else "") + "."
        + (" Knot DNS (`knotd -c`, `udp-workers: 1`, zone loaded whole, no journal, no "
           "zone-file sync, no modules) serves the same zone file, pinned the same way."
           if "knot" in args.sizes else ""),
        "",
        "| server | queries/s (median) | rounds | queries per CPU-second (median) | avg latency |",
        "| --- | ---: | --- | ---: | ---: |",
        f"| corral dns | {c_qps:,.0f} | {rounds('corral')} | "
        f"{c_cpu:,.0f} | {c_lat:.3f} ms |",
        f"| NSD | {n_qps:,.0f} | {rounds('nsd')} | "
        f"{n_cpu:,.0f} | {n_lat:.3f} ms |",
        f"| ratio corral/NSD | **{c_qps / n_qps:.2f}x** | | **{c_cpu / n_cpu:.2f}x** | |",
    ] + ([
        f"| Knot DNS | {med('knot', 'qps'):,.0f} | {rounds('knot')} | "
        f"{med('knot', 'q_per_cpu_s'):,.0f} | {med('knot', 'latency_ms'):.3f} ms |",
        f"| ratio corral/Knot | **{c_qps / med('knot', 'qps'):.2f}x** | | "
        f"**{c_cpu / med('knot', 'q_per_cpu_s'):.2f}x** | |",
    ] if results.get("knot") else []) + [
        "",
        f"Event -> answer ({args.changes} changes: scaling `/latency` between 1 and 2 instances, "
        "polling SRV with raw UDP queries in a tight loop):",
        "",
        "| measured from | p50 | p99 | max | n |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| the API call (`PUT /v2/apps`, includes launching/killing the task) | "
        f"{lat['api_p50']:.1f} ms | {lat['api_p99']:.1f} ms | {lat['api_max']:.1f} ms | {lat['n_api']} |",
        f"| the scheduler event (`status_update_event` on our own `/v2/events` stream) | "
        f"{lat['ev_p50']:.2f} ms | {lat['ev_p99']:.2f} ms | {lat['ev_max']:.2f} ms | {lat['n_ev']} |",
        "",
        f"`corral_dns_event_to_zone_seconds` over those changes ({int(hist_count)} zone updates, "
        f"mean {hist_mean:.2f} ms): " + ", ".join(f"le {le}: {int(v)}" for le, v in hist_rows)
        + f". Of that, updating the zone incrementally ({int(lat['records'])} records) took "
        f"{lat['build_mean']:.2f} ms on average (`corral_dns_zone_build_seconds`); the registry "
        "coalesces events for 1 ms first.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        out = {"load": " ".join(load), "records": sum(counts.values()),
               "ev_p50_ms": lat["ev_p50"], "ev_p99_ms": lat["ev_p99"]}
        for name in ("corral", "nsd", "knot"):
            if results.get(name):
                out[name] = {"qps": med(name, "qps"), "q_per_cpu_s": med(name, "q_per_cpu_s"),
                             "latency_ms": med(name, "latency_ms")}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
