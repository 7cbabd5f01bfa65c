#!/usr/bin/python3
"""The reload benchmark: corral proxy, HAProxy and nginx serving the same
routes while the same changes are made to them under load (issue 8).

Topology on a 2-core machine: the system under test pinned to core 0; the
backends (one nginx answering for every 127.a.b.c:2000x, bench/reload/backends.py),
wrk, the load tool (reload_load) and this driver on core 1.
Quieting the machine (each measured; docs/reload/HISTORY.md, "fifth run"):
  * every other user-space thread is moved off core 0 for the run (proc.shield):
    the VM's agent ran ~8 ms a second there, at nice -10, ahead of the proxy;
  * both cores are kept from halting (keep_awake, SCHED_IDLE): a halted vCPU's
    wake-up waited up to 5 ms for the host;
  * priorities (proc.pinned): the system at nice 0; the backends and reload_load
    real-time on core 1, so the instruments and the tasks answer at once; wrk
    at nice 0 takes the rest; this driver at nice -10.
The probe's first lead/2 seconds are not counted (the wrk connect then).

For each route count R, systems alternate (corral, haproxy, nginx, corral, ...)
and each runs these phases on the same catalog and the same event sequence
(until a phase the host disturbed runs again for one system: see below):
  steady     no changes (the steady state the others compare to)
  rate1/10/100  task replacements at 1, 10 and 100 per second
  burst500   500 replacements submitted at once, nine times 2 s apart: the
             first timed to live, the other eight (unchecked) for the latency
  addremove  new routes added and removed again
  upgrade    the proxy process replaced by a new one under load, the system's
             own hitless way (corral --takeover; HAProxy master-CLI reload, which
             re-executes the binary; nginx USR2 binary upgrade), twice, the second
             after the first generation has drained
Load in every phase: wrk keep-alive over the routes (spread.lua), wrk with
Connection: close (churn), 1,000 long-lived keep-alive connections and an
open-loop probe, all three in bench/reload/reload_load.cc (native: a Python
probe's own p99 was 6-15 ms, above what must be judged). Figures: failed
requests and resets, probe p50/p99/p99.9 in a window after each change against
steady state, event -> route live (reload_load polls the route until the
change answers, in rounds of one request per backend, at most 4k requests/s
for all checks; a burst is timed on 20 of its changes, and its latency
windows are those of eight more, unchecked bursts: see QUIET_BURSTS), proxy CPU per change,
memory per route and the number of live processes. rate10 runs 30 s (300
changes) so that its p99 is not just the slowest change.

The host: on a VM, the hypervisor may run another guest on our vCPUs (steal
time, /proc/stat), and that shows as every system's latency. Each phase
records the steal on both cores; in full mode a phase the host stole more
than --max-steal-ms-per-s from (either core, per second of the phase) runs
again, up to --attempts in all, with new changes of the same kind and number.
The attempt the host disturbed least gives the latency figures and says how
many attempts it took; the changes and what went wrong (failed requests,
resets, changes never live, upgrades not done, the most processes) are
counted over all of them, so a retry never hides a failure. A retry's
changes are new ones, so from then on that system's sequence differs from
the others' (same kind and number of changes).

Budgets: a system predicted (from its smaller runs in this run) to need more
than --start-budget-s to load its configuration is not run at that R, and a
peer whose configuration load took longer than --max-reload-s does not run
the phases that reload it (addremove, upgrade); the table says so, with the
measured reason.

One command: on a fresh Debian 12 machine it installs what is missing
(scripts/install-deps.sh: HAProxy, nginx, wrk, ...) and builds corral and
its tools (scripts/build.sh) before it starts, unless --corral names a binary.

Output: <out>/results.json, <out>/*.png and <out>/summary.md (also printed).
Usage: bench/reload/run.py [--short] [--out DIR] [--systems corral,haproxy,nginx]
                           [--routes 100,1000,10000,100000] [--rounds 1]
                           [--corral build/cli/corral]
                           [--load-tool build/bench/reload_load]
                           [--phases steady,upgrade] [--keep-work]
"""

import argparse
import datetime
import fcntl
import importlib
import inspect
import json
import math
import os
import platform
import random
import re
import select
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from bench.reload import httpprobe, proc  # noqa: E402
from bench.reload.backends import Backends  # noqa: E402
from bench.reload.catalog import AddRoute, RemoveRoute, Replace, Upgrade, EventSource, apply_event, make_catalog  # noqa: E402
from bench.reload.systems.base import System  # noqa: E402

SYSTEM_CPU, LOAD_CPU = 0, 1
ALL_SYSTEMS = ("corral", "haproxy", "nginx")
WINDOW_S = 0.5  # probe samples this long after a change form the "during changes" figures
LIVE_TIMEOUT_S = 15.0
MAX_CHECKS_PER_BATCH = 20  # changes of one batch (a burst) timed to live
# A burst's live checks are load of their own: polling 20 changes until they
# are live is up to 4k new client connections a second (each poll is a new
# client, so that a reloading peer's old workers cannot answer it), as much as
# the rest of the load together. So the burst phase sends a burst that is
# timed to live, whose window does not count for latency, then QUIET_BURSTS
# bursts that are not checked: their windows are the phase's "during changes"
# figures, what a burst costs the traffic without the cost of watching it
# (eight of them, so that the p99 is taken over ~2,000 probe answers, not the
# ~250 of one window, where one stall of the machine decides it: on the 2-vCPU
# VM of docs/reload/HISTORY.md the load core stalls every proxy's traffic for
# 8-30 ms about once in two seconds, with or without changes).
QUIET_BURSTS = 8
# What an old generation's drain takes in the upgrade phase: its long-lived
# clients ask every ~10 s and are answered with Connection: close.
UPGRADE_DRAIN_S = 15


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def percentile(xs, p):
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ systems


def load_system(name):
    """The System subclass of bench/reload/systems/<name>.py, or (None, why)."""
    try:
        mod = importlib.import_module(f"bench.reload.systems.{name}")
    except ImportError as e:
        return None, f"bench/reload/systems/{name}.py cannot be imported ({e})"
    for _, obj in inspect.getmembers(mod, inspect.isclass):
        if issubclass(obj, System) and obj is not System and getattr(obj, "name", "") == name:
            return obj, ""
    return None, f"bench/reload/systems/{name}.py has no System subclass named {name!r}"


# ------------------------------------------------------------------ phases


def phase_plan(short):
    """(name, kind, rate or count, seconds): the same for every system."""
    if short:
        return [("steady", "rate", 0, 2), ("rate10", "rate", 10, 2), ("upgrade", "upgrade", 1, 2)]
    # rate10 runs 30 s: 300 changes, so that its p99 is not simply the slowest
    # one. steady and rate1 run 20 s and the bursts 2 s apart, so that each
    # latency figure is taken over ~10,000 (steady) and ~2,000-5,000 (windows
    # after changes) probe answers: the machine's own stalls (see QUIET_BURSTS)
    # decided the p99 of the 10 s phases of earlier runs.
    return [("steady", "rate", 0, 20), ("rate1", "rate", 1, 20), ("rate10", "rate", 10, 30),
            ("rate100", "rate", 100, 5), ("burst500", "burst", 500, 2 * (QUIET_BURSTS + 1)),
            ("addremove", "addremove", 2, 10),
            ("upgrade", "upgrade", 2, 40)]


# Phases whose changes make a reloading peer load its whole configuration again.
RELOADING_KINDS = ("addremove", "upgrade")


def make_events(kind, amount, seconds, source, model):
    """[(offset seconds, event)]: generated against a scratch copy of the model
    so that every system gets the same sequence."""
    evs = []
    if kind == "rate" and amount > 0:
        n = int(amount * seconds)
        for i in range(n):
            ev = source.replace(model)
            apply_event(model, ev)
            evs.append((i / amount, ev))
    elif kind == "burst":
        # Bursts evenly spread over the phase: the first timed to live (checks
        # on a sample of it), the QUIET_BURSTS others unchecked: their windows
        # are the phase's latency during changes.
        for at in [seconds * k / (QUIET_BURSTS + 1) for k in range(QUIET_BURSTS + 1)]:
            for _ in range(amount):
                ev = source.replace(model)
                apply_event(model, ev)
                evs.append((at, ev))
    elif kind == "addremove":
        n = int(amount * seconds)
        for i in range(n):
            ev = source.add_route() if i % 2 == 0 else source.remove_route()
            apply_event(model, ev)
            evs.append((i / amount, ev))
    elif kind == "upgrade":
        # 15 s apart at least, and each only once the generation before has
        # drained (drive_phase waits for it: its long-lived clients ask every
        # ~10 s and get Connection: close), so the phase shows a hitless
        # upgrade, twice; upgrades faster than drains are the generation-bound
        # test's (tests/integration/takeover_integration_test.cc).
        step = min(15.0, seconds / max(1, amount))
        evs = [(i * step, Upgrade(i + 1)) for i in range(amount)]
    return evs


class LiveChecks:
    """Has the load tool time each change to live: one `check` line per event
    on its stdin (a replacement is live when its new backend answers the route,
    an added route when it answers from its backends, a removed one when it no
    longer answers 200). A change that a later one undid before it was seen
    (the same app changed again) is cancelled: the tool reports it superseded
    unless it was already live."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.pending = {}  # app_id -> [(check id, event)] not yet cancelled
        self.lines = {}  # check id -> its line, for the log of a check that never went live
        self.next_id = 0

    def submit(self, batch, t_submit, route_of):
        for ev in batch:
            route = route_of(ev)
            fanout = 1
            if isinstance(ev, Replace):
                app_id, mode, want = ev.app_id, "backend", ev.new.header()
                # One request per backend in each poll round: the balancer shows the new
                # backend to one request in n, so a round of n sees it at its first chance.
                fanout = max(1, min(len(route.backends), 32))
            elif isinstance(ev, AddRoute):
                app_id, mode, want = ev.route.app_id, "serves", ",".join(b.header() for b in ev.route.backends)
            else:
                app_id, mode, want = ev.app_id, "gone", "-"
            self.next_id += 1
            self.pending.setdefault(app_id, []).append((self.next_id, ev))
            self.lines[str(self.next_id)] = f"{mode} {route.vhost} {route.probe_path()} {want} {fanout}"
            self.pipe.write(f"check {self.next_id} {t_submit:.6f} {self.lines[str(self.next_id)]}\n")
        self.pipe.flush()

    def cancel_superseded(self, model, app_ids):
        """Cancels the pending checks of app_ids whose change the model no longer holds."""
        for app_id in app_ids:
            keep = []
            for cid, ev in self.pending.get(app_id, []):
                if isinstance(ev, Replace):
                    cur = model.get(app_id)
                    holds = cur is not None and ev.new in cur.backends
                else:
                    holds = (app_id in model) == isinstance(ev, AddRoute)
                if holds:
                    keep.append((cid, ev))
                else:
                    self.pipe.write(f"cancel {cid}\n")
            self.pending[app_id] = keep
        self.pipe.flush()


def app_of(ev):
    return ev.route.app_id if isinstance(ev, AddRoute) else ev.app_id


def parse_wrk(text):
    """Requests and errors from wrk's report."""
    r = {"requests": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0}
    m = re.search(r"(\d+) requests in", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["connect"], r["read"], r["write"], r["timeout"] = map(int, m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    return r


class Sampler(threading.Thread):
    """Counts the system's live processes every 50 ms (the generation bound)."""

    def __init__(self, system):
        super().__init__(daemon=True)
        self.system = system
        self.stop_ev = threading.Event()
        self.max_procs = 0
        self.peak = []  # when the count first reached max_procs: [monotonic s, [[pid, state], ...]]

    def run(self):
        for _ in range(100000):
            pids = self.system.pids()
            if len(pids) > self.max_procs:
                self.max_procs = len(pids)
                self.peak = [round(time.monotonic(), 3), [[p, proc.state(p)] for p in pids]]
            if self.stop_ev.wait(0.05):
                return

    def stop(self):
        self.stop_ev.set()
        self.join(5)


def run_phase(args, system, port, model, events, phase, targets_file, work):
    """One phase under load; returns its figures."""
    name, kind, amount, seconds = phase
    lead, tail = args.lead_s, args.tail_s  # quiet time before the first and after the last change
    duration = seconds + lead + tail
    lg_out = os.path.join(work, f"load-{system.name}-{name}.json")
    lg = subprocess.Popen(
        ["taskset", "-c", str(LOAD_CPU), args.load_tool, "--port", str(port),
         "--targets", targets_file, "--duration", str(duration), "--rate", str(args.probe_rate),
         "--long", str(args.long_lived), "--live-timeout", str(LIVE_TIMEOUT_S), "--out", lg_out],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(os.path.join(work, "reload_load.log"), "ab"),
        text=True)
    ready, _, _ = select.select([lg.stdout], [], [], 60)
    line = lg.stdout.readline() if ready else ""
    if not line.startswith("ready "):
        lg.kill()
        lg.wait(5)
        raise RuntimeError(f"reload_load did not start on port {port} (see {work}/reload_load.log)")
    t0 = float(line.split()[1])
    wrks = []
    for label, conns, pause, extra in (("keepalive", args.wrk_conns, args.wrk_delay_ms, []),
                                       ("churn", args.churn_conns, args.churn_delay_ms, ["-H", "Connection: close"])):
        cmd = proc.pinned(LOAD_CPU, "load", ["wrk", "-t1", f"-c{conns}", f"-d{int(duration + 0.999)}s",
                                             "--timeout", "5s", *extra, "-s", os.path.join(HERE, "spread.lua"),
                                             f"http://127.0.0.1:{port}/", "--", targets_file, str(pause)])
        wrks.append((label, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    try:
        return drive_phase(system, port, model, events, phase, t0, lead, duration, lg, lg_out, wrks, work,
                           check_every=args.check_every)
    finally:
        for p in [lg] + [w for _, w in wrks]:
            if p.poll() is None:
                p.kill()
                p.wait(5)


def drive_phase(system, port, model, events, phase, t0, lead, duration, lg, lg_out, wrks, work, check_every=1):
    """Submits the phase's changes on schedule while the load runs, then collects the figures."""
    name, kind, amount, _ = phase
    sampler = Sampler(system)
    sampler.start()
    upgrades_before = len(system.upgrade_seconds())
    upgrades_asked = sum(1 for _, ev in events if isinstance(ev, Upgrade))
    cpu0 = proc.cpu_seconds(system.pids())
    steal0, steal_t0 = proc.steal_ticks(), time.monotonic()
    checks = LiveChecks(lg.stdin)
    change_times = []
    latency_times = []  # changes whose windows make the "during changes" figures
    bursts_sent = 0
    batches = 0  # of the rate and add/remove phases, for check_every
    applied = 0
    t_start = t0 + lead
    procs_at_start = len(system.pids())
    upgrades_not_started = 0
    i = 0
    try:
        while i < len(events):
            if isinstance(events[i][1], Upgrade) and events[i][1].seq > 1:
                # The next upgrade once the last one's old generation is gone, while
                # there is still load to see it under.
                gate_end = t0 + duration - 4.0
                while len(system.pids()) > procs_at_start and time.monotonic() < gate_end:
                    time.sleep(0.05)
                if len(system.pids()) > procs_at_start:
                    # The last upgrade is still under way (a new generation
                    # loading 100k routes, or the old one draining) when the
                    # phase ends: a process started now would only be refused
                    # or wait (the generation bound), and be counted as a third.
                    log(f"  upgrade {events[i][1].seq} not started: the one before is still under way "
                        f"{time.monotonic() - t_start:.0f} s into the phase")
                    upgrades_not_started += 1
                    i += 1
                    continue
            due_at = t_start + events[i][0]
            wait = due_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            now = time.monotonic()
            batch = []
            while i < len(events) and t_start + events[i][0] <= now:
                batch.append(events[i][1])
                i += 1
            routes_before = {}
            for ev in batch:
                if isinstance(ev, RemoveRoute):
                    routes_before[id(ev)] = model.get(ev.app_id)
                apply_event(model, ev)
            prepared = system.prepare(batch)
            t_submit = time.monotonic()
            system.apply(prepared)
            applied += len(batch)
            change_times += [t_submit] * len(batch)
            routed = [ev for ev in batch if not isinstance(ev, Upgrade)]  # an upgrade is timed by the system
            if kind == "burst":
                if bursts_sent:
                    latency_times += [t_submit] * len(batch)
                    routed = []  # the quiet burst: not checked
                bursts_sent += 1
            else:
                latency_times += [t_submit] * len(batch)
            if check_every != 1 and kind != "burst":
                # Only every check_every-th batch is timed (0: none), to see what the
                # checks' own polling costs the probe.
                if check_every == 0 or batches % check_every != 0:
                    routed = []
                batches += 1
            if len(routed) > MAX_CHECKS_PER_BATCH:
                # A burst is timed on an even sample of its changes: checking all 500 at
                # once would make the checks' own requests the load under measurement.
                step = math.ceil(len(routed) / MAX_CHECKS_PER_BATCH)
                routed = routed[::step]
            checks.submit(routed, t_submit, lambda ev: ev.route if isinstance(ev, AddRoute) else (
                routes_before[id(ev)] if isinstance(ev, RemoveRoute) else model.get(ev.app_id)))
            checks.cancel_superseded(model, {app_of(ev) for ev in routed})
        lg.stdin.close()  # no more checks: the tool ends once the pending ones are settled
        # The rest of the phase runs its course (the tail shows the recovery, and
        # old generations still draining count as processes); a check still
        # pending at the end settles within LIVE_TIMEOUT_S.
        rc = lg.wait(duration + LIVE_TIMEOUT_S + 30)
    finally:
        sampler.stop()
    cpu1 = proc.cpu_seconds(system.pids())
    wrk_out = {}
    for label, p in wrks:
        out, _ = p.communicate(timeout=duration + 30)
        wrk_out[label] = parse_wrk(out)
    if rc != 0:
        raise RuntimeError(f"reload_load exited {rc} (see {work}/reload_load.log)")
    with open(lg_out) as f:
        lgr = json.load(f)
    ups = system.upgrade_seconds()[upgrades_before:]
    upgrades = {"asked": upgrades_asked, "not_started": upgrades_not_started, "completed": len(ups),
                "p50_s": percentile(ups, 50), "max_s": max(ups) if ups else None}
    lives = [(c["status"], c["s"]) for c in lgr["live"]]
    # The probe's own share of its latency: how late reload_load took requests up.
    tool = lgr["tool"]
    log(f"  load tool ({tool['sched']} scheduling) wake-up lag p50 {tool['wake_lag_p50_ms']:.3f} ms, "
        f"p99 {tool['wake_lag_p99_ms']:.3f} ms, max {tool['wake_lag_max_ms']:.3f} ms")
    for c in lgr["live"]:
        if c["status"] == "timeout":
            log(f"  {system.name} {name}: check `{checks.lines.get(c['id'])}` never went live "
                f"({c['answers']} answers, the last: {c['last']}; backends seen: {c['seen']})")
    per_core = [round((b - a) * 1000.0 / proc.CLK_TCK, 1) for a, b in zip(steal0, proc.steal_ticks())]
    steal_ms = [per_core[SYSTEM_CPU], per_core[LOAD_CPU]]  # the system's core, the load core
    steal_window_s = time.monotonic() - steal_t0
    log(f"  steal (time the host ran something else) per core: {steal_ms} ms")
    res = summarize_phase(name, kind, amount, applied, lives, change_times, latency_times, lgr, wrk_out,
                          cpu1 - cpu0, sampler.max_procs, duration, upgrades, sampler.peak, warmup_s=lead / 2)
    res["steal_ms"] = steal_ms
    res["steal_window_s"] = steal_window_s  # the phase and the wait for its last live checks
    return res


def summarize_phase(name, kind, amount, applied, lives, change_times, latency_times, lgr, wrk_out, cpu_s,
                    max_procs, duration, upgrades, procs_peak=None, warmup_s=0.0):
    # The probe's first warmup_s are not counted (its samples stay in the
    # timeline): the two wrk start then, opening their connections at once,
    # which cost every system's probe 5-60 ms in that first fraction of a
    # second. The first change comes after the lead, twice as late.
    samples = [s for s in lgr["probe"]["samples"] if s[0] >= lgr["t0"] + warmup_s]
    lat = [l for _, l in samples if l is not None]
    times = sorted(latency_times)
    in_window = []
    j = 0
    for t, l in sorted((s for s in samples if s[1] is not None), key=lambda s: s[0]):
        while j < len(times) and times[j] + WINDOW_S < t:
            j += 1
        if j < len(times) and times[j] <= t:
            in_window.append(l)
    live = [d * 1000.0 for st, d in lives if st == "live"]
    wrk_failed = sum(w["connect"] + w["read"] + w["write"] + w["timeout"] + w["non2xx"] for w in wrk_out.values())
    probe_fail = lgr["probe"]["failures"]
    ll = lgr["long_lived"]
    resets = (sum(w["read"] for w in wrk_out.values()) + probe_fail.get("reset", 0)
              + ll["failures"].get("reset", 0))
    return {
        "phase": name, "kind": kind, "amount": amount, "changes": applied, "duration_s": duration,
        "failed_requests": wrk_failed + lgr["probe"]["failed"] + ll["failed"],
        "resets": resets,
        "wrk": wrk_out,
        "probe": {"sent": len(samples), "failed": lgr["probe"]["failed"], "failures": probe_fail,
                  "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "p999_ms": percentile(lat, 99.9),
                  "max_ms": max(lat) if lat else None},
        "during_changes": {"window_s": WINDOW_S, "samples": len(in_window), "p50_ms": percentile(in_window, 50),
                           "p99_ms": percentile(in_window, 99), "p999_ms": percentile(in_window, 99.9)},
        "long_lived": ll,
        "event_to_live": {"timed": len(live), "superseded": sum(1 for st, _ in lives if st == "superseded"),
                          "timeouts": sum(1 for st, _ in lives if st == "timeout"),
                          "p50_ms": percentile(live, 50), "p99_ms": percentile(live, 99),
                          "max_ms": max(live) if live else None,
                          "all_ms": [None if st != "live" else round(d * 1000.0, 3) for st, d in lives]},
        "cpu_s": cpu_s,
        "cpu_per_change_ms": (cpu_s * 1000.0 / applied) if applied else None,
        "max_processes": max_procs,
        "max_processes_seen": procs_peak or [],  # when, and each pid's state (R, S, Z, ...)
        "upgrades": upgrades,
        "timeline": {"t0": lgr["t0"], "samples": lgr["probe"]["samples"], "changes": sorted(change_times)},
    }


# ------------------------------------------------------------------ one system at one R


def predicted_start(measured, R):
    """(seconds, why) a system's start at R routes is predicted to take from its
    two largest measured route counts (growth exponent between them, at least
    linear; the slowest start where rounds measured one R more than once), or
    (None, "") with nothing measured at fewer routes."""
    slowest = {}
    for r, t in measured:
        if r < R:
            slowest[r] = max(t, slowest.get(r, 0.0))
    pts = sorted(slowest.items())
    if not pts:
        return None, ""
    r2, t2 = pts[-1]
    k = 1.0
    if len(pts) >= 2:
        r1, t1 = pts[-2]
        if t1 > 0 and t2 > t1:
            k = max(1.0, min(3.0, math.log(t2 / t1) / math.log(r2 / r1)))
    predicted = t2 * (R / r2) ** k
    return predicted, (f"loading its configuration took {t2:.1f} s at {r2} routes and grows as routes^{k:.1f}, "
                       f"so ~{predicted:.0f} s at {R}")


def write_targets(routes, path, n, seed):
    rng = random.Random(seed)
    picks = rng.sample(routes, min(n, len(routes)))
    with open(path, "w") as f:
        for r in picks:
            f.write(f"{r.vhost} {r.probe_path()}\n")


def run_system(args, cls, routes, seed, plan, work):
    system_dir = os.path.join(work, f"{cls.name}-{len(routes)}")
    os.makedirs(system_dir, exist_ok=True)
    port = free_port()
    system = cls(system_dir, port, SYSTEM_CPU, args.corral)
    if hasattr(system, "start_timeout_s"):  # the peers bound each configuration load
        system.start_timeout_s = args.start_budget_s
    # The system and the harness each get their own copy of the routes.
    mine = make_catalog(len(routes), seed)
    model = {r.app_id: r for r in mine}
    result = {"system": cls.name, "routes": len(routes)}
    t = time.monotonic()
    try:
        system.start(make_catalog(len(routes), seed))
        result["start_s"] = time.monotonic() - t
        httpprobe.wait_serving(port, mine, timeout=30, sample=100, seed=seed + 1)  # the harness checks too
        time.sleep(0.5 if args.short else 1.0)  # let start-up garbage settle before memory is read
        pids = system.pids()
        result["memory_kib"] = proc.memory_kib(pids)
        result["processes_idle"] = len(pids)
        targets = os.path.join(system_dir, "targets.txt")
        write_targets(mine, targets, 1000, seed)
        source = EventSource(make_catalog(len(routes), seed), seed)
        scratch = {r.app_id: r for r in make_catalog(len(routes), seed)}
        result["phases"] = {}
        result["skipped_phases"] = {}
        for phase in plan:
            name, kind, amount, seconds = phase
            if kind == "upgrade" and not args.short:
                # Each upgrade loads the whole catalog under load, then the old generation
                # drains: the phase gives each twice the system's measured start plus a
                # drain, so that both fit (at 100k routes corral starts in ~25 s; a fixed
                # 40 s phase had room for one upgrade only).
                seconds = max(seconds, math.ceil(amount * (2 * result["start_s"] + UPGRADE_DRAIN_S)))
                phase = (name, kind, amount, seconds)
            events = make_events(kind, amount, seconds, source, scratch)
            cost = system.config_load_seconds()
            if kind in RELOADING_KINDS and cost is not None and cost > args.max_reload_s:
                # The system answers these changes by loading its whole configuration,
                # which it has shown takes longer than the phase itself: the phase would
                # only measure a queue of reloads (the figure that says so is the cost).
                why = (f"one configuration load takes {cost:.0f} s at {len(routes)} routes "
                       f"(> --max-reload-s {args.max_reload_s:.0f})")
                result["skipped_phases"][name] = why
                log(f"{cls.name} R={len(routes)} {name}: skipped, {why}")
                # The reloading phases come last, so no later phase's events build on
                # the routes this one would have added or removed.
                continue
            log(f"{cls.name} R={len(routes)} {name}: {len(events)} change(s) over {seconds}s")
            ph = run_phase_until_quiet(args, system, port, model, events, phase, targets, system_dir, source, scratch)
            result["phases"][name] = ph
            if name != "steady" and ph["changes"] and "steady" in result["phases"]:
                st = result["phases"]["steady"]
                excess = ph["cpu_s"] - st["cpu_s"] / st["duration_s"] * ph["duration_s"]
                ph["cpu_per_change_excess_ms"] = excess * 1000.0 / ph.get("changes_this_attempt", ph["changes"])
            else:
                ph["cpu_per_change_excess_ms"] = None
            log(f"  failed {ph['failed_requests']} resets {ph['resets']} probe p99 {fmt(ph['probe']['p99_ms'])} ms, "
                f"live p99 {fmt(ph['event_to_live']['p99_ms'])} ms, procs {ph['max_processes']}")
    finally:
        result["config_load_s"] = system.config_load_seconds()
        system.stop()
    return result


def host_was_quiet(args, ph):
    """Did the host leave both cores alone enough for the phase's latency to be ours?"""
    limit_ms = args.max_steal_ms_per_s * ph.get("steal_window_s", ph["duration_s"])
    return max(ph["steal_ms"]) <= limit_ms


def run_phase_until_quiet(args, system, port, model, events, phase, targets, work, source, scratch):
    """Runs a phase, and again (up to --attempts in all) while the host stole
    more than --max-steal-ms-per-s from either core during it: a hypervisor
    running another guest on our vCPU shows up as every system's latency.
    The attempt the host disturbed least gives the latency figures; what went
    wrong is counted over every attempt (failed requests, resets, changes
    never live, upgrades not done, the most processes), and so are the
    changes made, so a retry never hides a failure. A retry's changes are new
    ones from the same source, of the same kind and number."""
    name, kind, amount, seconds = phase
    attempts = []
    while True:
        ph = run_phase(args, system, port, model, events, phase, targets, work)
        attempts.append(ph)
        if host_was_quiet(args, ph) or len(attempts) >= args.attempts:
            break
        log(f"  the host stole {ph['steal_ms']} ms (over {args.max_steal_ms_per_s:g} ms/s): "
            f"{system.name} {name} again, attempt {len(attempts) + 1} of {args.attempts}")
        events = make_events(kind, amount, seconds, source, scratch)
    kept = min(attempts, key=lambda a: max(a["steal_ms"]))
    kept["attempts"] = len(attempts)
    kept["host_quiet"] = host_was_quiet(args, kept)
    # Every attempt, as it was; the kept one's figures are its own.
    kept["attempts_summary"] = [
        {"steal_ms": a["steal_ms"], "changes": a["changes"], "failed_requests": a["failed_requests"],
         "resets": a["resets"], "probe_failures": a["probe"]["failures"],
         "live_timeouts": a["event_to_live"]["timeouts"], "max_processes": a["max_processes"],
         "upgrades": {k: a["upgrades"][k] for k in ("asked", "not_started", "completed")},
         "during_p99_ms": a["during_changes"]["p99_ms"]} for a in attempts]
    if len(attempts) > 1:
        # What went wrong counts from every attempt: failures, resets, changes
        # never live, upgrades not done, the most processes at once.
        kept["failed_requests"] = sum(a["failed_requests"] for a in attempts)
        kept["resets"] = sum(a["resets"] for a in attempts)
        kept["changes_this_attempt"] = kept["changes"]  # what its CPU and latency figures are per
        kept["changes"] = sum(a["changes"] for a in attempts)
        kept["event_to_live"] = dict(kept["event_to_live"],
                                     timeouts=sum(a["event_to_live"]["timeouts"] for a in attempts))
        kept["max_processes"] = max(a["max_processes"] for a in attempts)
        kept["upgrades"] = dict(kept["upgrades"], **{k: sum(a["upgrades"][k] for a in attempts)
                                                     for k in ("asked", "not_started", "completed")})
        merged = {}
        for a in attempts:
            for k, v in a["probe"]["failures"].items():
                merged[k] = merged.get(k, 0) + v
        kept["probe"] = dict(kept["probe"], failures=merged)
    return kept


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


# ------------------------------------------------------------------ report


def derived(results, plan_names):
    """Memory per route per system: (memory at R - memory at the smallest R) / (R - smallest R)."""
    by = {}
    for r in results:
        by.setdefault(r["system"], {}).setdefault(r["routes"], []).append(r)
    out = {}
    for system, per_r in by.items():
        rs = sorted(per_r)
        base = rs[0]
        mem = {R: min(x["memory_kib"] for x in per_r[R]) for R in rs}
        out[system] = {"memory_kib": mem,
                       "bytes_per_route": {R: ((mem[R] - mem[base]) * 1024.0 / (R - base)) if R != base else None
                                           for R in rs}}
    return out


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2.0


def median_rows(results, plan_names):
    """With several rounds: one row per system, R and phase, the median over the
    rounds of each figure (a round's p99 during changes is compared with the
    same round's steady p99), and the failures and resets summed."""
    cells = {}
    for r in results:
        steady = r["phases"].get("steady", {}).get("probe", {}).get("p99_ms")
        for name in plan_names:
            ph = r["phases"].get(name)
            if ph is None or name == "steady":
                continue
            during = ph["during_changes"]["p99_ms"]
            cells.setdefault((r["system"], r["routes"], name), []).append({
                "steady": steady, "during": during,
                "over": None if steady is None or during is None else during - steady,
                "live": ph["event_to_live"]["p99_ms"], "failed": ph["failed_requests"], "resets": ph["resets"]})
    if not any(len(v) > 1 for v in cells.values()):
        return []
    lines = ["", "Medians over the rounds (systems alternated within each round):", "",
             "| system | routes | phase | rounds | failed (sum) | resets (sum) | p99 steady ms | p99 during ms | "
             "p99 during over steady ms | event→live p99 ms |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    order = lambda k: (k[1], ALL_SYSTEMS.index(k[0]) if k[0] in ALL_SYSTEMS else 9, plan_names.index(k[2]))
    for key in sorted(cells, key=order):
        v = cells[key]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {len(v)} | {sum(x['failed'] for x in v)} | "
                     f"{sum(x['resets'] for x in v)} | {fmt(median(x['steady'] for x in v))} | "
                     f"{fmt(median(x['during'] for x in v))} | {fmt(median(x['over'] for x in v))} | "
                     f"{fmt(median(x['live'] for x in v))} |")
    return lines


def steal_cell(ph):
    steal = ph.get("steal_ms")
    if not steal:
        return "-"
    cell = " / ".join(f"{x:.0f}" for x in steal)
    tries = ph.get("attempts", 1)
    if tries > 1:
        cell += f" ({tries}: kept the quietest{'' if ph.get('host_quiet') else ', still over the limit'})"
    return cell


def markdown(meta, results, extra, plan_names):
    awake = ("both cores kept from halting (keep_awake)" if meta.get("keep_awake")
             else "cores left to halt when idle (no keep_awake)")
    awake += (f", {meta['shielded_threads']} other threads moved off the system's core" if meta.get("shielded_threads")
              else ", the system's core not shielded")
    lines = [f"Reload benchmark, {meta['date']}, {meta['machine']}, command `{meta['command']}`; {awake}.", "",
             "| system | routes | phase | changes | failed | resets | p99 steady ms | p99 during changes ms | "
             "p99.9 during ms | event→live p50 ms | event→live p99 ms | CPU/change ms | CPU/change over steady ms | "
             "processes max | bytes/route | host steal ms, system / load core (attempts) |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in sorted(results, key=lambda r: (r["routes"], ALL_SYSTEMS.index(r["system"]) if r["system"] in ALL_SYSTEMS else 9)):
        steady = r["phases"].get("steady", {}).get("probe", {}).get("p99_ms")
        bpr = extra.get(r["system"], {}).get("bytes_per_route", {}).get(r["routes"])
        for name in plan_names:
            ph = r["phases"].get(name)
            if ph is None:
                continue
            lines.append(
                f"| {r['system']} | {r['routes']} | {name} | {ph['changes']} | {ph['failed_requests']} | {ph['resets']} | "
                f"{fmt(steady)} | {fmt(ph['during_changes']['p99_ms'])} | {fmt(ph['during_changes']['p999_ms'])} | "
                f"{fmt(ph['event_to_live']['p50_ms'])} | {fmt(ph['event_to_live']['p99_ms'])} | "
                f"{fmt(ph['cpu_per_change_ms'])} | {fmt(ph.get('cpu_per_change_excess_ms'))} | "
                f"{ph['max_processes']} | {fmt(bpr, 0)} | {steal_cell(ph)} |")
    lines += median_rows(results, plan_names)
    if meta.get("errors"):
        lines += [""] + [f"* {e['system']} with {e['routes']} routes failed: {e['error']}" for e in meta["errors"]]
    notes = [f"* {s['system']} with {s['routes']} routes {s['why']}" for s in meta.get("skipped", [])]
    for r in results:
        notes += [f"* {r['system']} with {r['routes']} routes, phase {name} not run: {why}"
                  for name, why in r.get("skipped_phases", {}).items()]
    if notes:
        lines += ["", "Not run (each reason measured in this run):", ""] + notes
    ups = [(r, r["phases"]["upgrade"]) for r in results if "upgrade" in r["phases"]]
    if ups:
        lines += ["", "Upgrades under load (a new process takes over; held connections are closed "
                      "gracefully, after an answer that says Connection: close):", "",
                  "| system | routes | upgrades done / asked | seconds to serve (max) | failed | resets | "
                  "held connections closed gracefully | p99 during ms | processes max |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r, ph in sorted(ups, key=lambda x: (x[0]["routes"], ALL_SYSTEMS.index(x[0]["system"])
                                                if x[0]["system"] in ALL_SYSTEMS else 9)):
            u = ph["upgrades"]
            not_started = f" ({u['not_started']} not started: the one before was still under way)" \
                if u.get("not_started") else ""
            lines.append(f"| {r['system']} | {r['routes']} | {u['completed']} / {u['asked']}{not_started} | "
                         f"{fmt(u['max_s'])} | "
                         f"{ph['failed_requests']} | {ph['resets']} | {ph['long_lived']['dropped']} | "
                         f"{fmt(ph['during_changes']['p99_ms'])} | {ph['max_processes']} |")
    lines += ["", "Start (first snapshot served) and memory:", "",
              "| system | routes | start s | memory MiB (Pss) |", "| --- | ---: | ---: | ---: |"]
    for r in sorted(results, key=lambda r: (r["system"], r["routes"])):
        lines.append(f"| {r['system']} | {r['routes']} | {fmt(r['start_s'])} | {r['memory_kib'] / 1024:.1f} |")
    return "\n".join(lines) + "\n"


def save_against_routes(plt, fig, ax, ylabel, path, legend_size=None):
    """Finishes a figure whose x axis is the route count (log) and writes it."""
    ax.set_xscale("log")
    ax.set_xlabel("routes")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=legend_size)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plots(out_dir, results, extra, plan_names):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing (apt-get install python3-matplotlib): no plots")
        return []
    made = []
    systems = sorted({r["system"] for r in results}, key=lambda s: ALL_SYSTEMS.index(s) if s in ALL_SYSTEMS else 9)
    # Latency over time with change markers: one figure per R, one row per system, phases side by side.
    for R in sorted({r["routes"] for r in results}):
        rows = [r for r in results if r["routes"] == R]
        fig, axes = plt.subplots(len(rows), 1, figsize=(14, 2.6 * len(rows)), squeeze=False, sharex=True)
        for ax, r in zip(axes[:, 0], rows):
            offset = 0.0
            for name in plan_names:
                ph = r["phases"].get(name)
                if ph is None:
                    continue
                tl = ph["timeline"]
                xs = [t - tl["t0"] + offset for t, l in tl["samples"] if l is not None]
                ys = [l for t, l in tl["samples"] if l is not None]
                fx = [t - tl["t0"] + offset for t, l in tl["samples"] if l is None]
                ax.scatter(xs, ys, s=1.5, color="tab:blue")
                if fx:
                    ax.scatter(fx, [max(ys or [1])] * len(fx), s=8, color="red", marker="x")
                for c in tl["changes"][:2000]:
                    ax.axvline(c - tl["t0"] + offset, color="orange", alpha=0.4, linewidth=0.6)
                ax.axvline(offset, color="black", linewidth=0.8)
                ax.text(offset + 0.1, 0.9, name, transform=ax.get_xaxis_transform(), fontsize=8)
                offset += ph["duration_s"] + 0.5
            ax.set_yscale("log")
            ax.set_ylabel(f"{r['system']}\nprobe latency ms")
        axes[-1, 0].set_xlabel("seconds (phases side by side; orange: changes, red x: failed)")
        fig.suptitle(f"Open-loop probe latency, {R} routes")
        fig.tight_layout()
        path = os.path.join(out_dir, f"latency_R{R}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    # Event -> live and memory against R.
    live_phase = "rate10" if "rate10" in plan_names else plan_names[-1]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plotted = False  # a run of phases that time nothing live (steady, upgrade) has no such plot
    for idx, s in enumerate(systems):
        rs = sorted({r["routes"] for r in results if r["system"] == s})
        for key, style in (("p50_ms", "--"), ("p99_ms", "-")):
            ys = []
            for R in rs:
                vals = [r["phases"][live_phase]["event_to_live"][key] for r in results
                        if r["system"] == s and r["routes"] == R and r["phases"][live_phase]["event_to_live"][key] is not None]
                ys.append(min(vals) if vals else float("nan"))
            ax.plot(rs, ys, style, marker="o", color=f"C{idx}", label=f"{s} {key[:-3]}")
            plotted = plotted or any(y > 0 for y in ys)  # (nan compares false)
    if plotted:
        ax.set_yscale("log")
        made.append(save_against_routes(plt, fig, ax, f"event -> live ms ({live_phase})",
                                        os.path.join(out_dir, "event_to_live.png"), legend_size=8))
    else:
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in systems:
        mem = extra[s]["memory_kib"]
        rs = sorted(mem)
        ax.plot(rs, [mem[R] / 1024.0 for R in rs], marker="o", label=s)
    made.append(save_against_routes(plt, fig, ax, "memory MiB (Pss of all processes)",
                                    os.path.join(out_dir, "memory.png")))
    return made


# ------------------------------------------------------------------ main


# keep_awake runs at most this long (it also exits with this driver).
KEEP_AWAKE_MAX_S = 6 * 3600


def start_keep_awake(tool):
    """One keep_awake per core for the whole run (bench/reload/keep_awake.cc says
    why: on a VM whose idle vCPU halts, a wake-up can wait milliseconds for the
    host, and that, not the proxies, made the probe's stalls). [] when off."""
    if tool == "off":
        return []
    procs = [subprocess.Popen(["taskset", "-c", str(cpu), tool, "--seconds", str(KEEP_AWAKE_MAX_S)])
             for cpu in (SYSTEM_CPU, LOAD_CPU)]
    time.sleep(0.2)
    if any(p.poll() is not None for p in procs):
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        log("keep_awake could not run (SCHED_IDLE refused?): measuring with halting cores")
        return []
    return procs


def prepare():
    """One command on a fresh machine (when no --corral binary is named): the
    peers and tools installed (Debian packages, scripts/install-deps.sh) when
    one is missing, then corral and the benchmark's own tools built (a no-op
    when they are up to date)."""
    if any(shutil.which(t) is None for t in ("wrk", "nginx", "haproxy", "taskset")):
        log("installing the benchmark's peers and tools: scripts/install-deps.sh")
        subprocess.run(["sh", os.path.join(ROOT, "scripts", "install-deps.sh")], check=True)
    log("building corral, reload_load and keep_awake: scripts/build.sh")
    subprocess.run(["sh", os.path.join(ROOT, "scripts", "build.sh"), "corral", "reload_load", "keep_awake"],
                   check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="CI mode: R=100,1000, steady, 10 changes/s and one upgrade, 2 s each")
    ap.add_argument("--out", default=None, help="output directory (default: a new one under /tmp)")
    ap.add_argument("--systems", default=",".join(ALL_SYSTEMS))
    ap.add_argument("--routes", default=None, help="route counts (default 100,1000,10000,100000; short: 100,1000)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds per R (systems alternate within each); with more than one, the summary adds "
                         "the median of each figure over the rounds")
    ap.add_argument("--keep-work", action="store_true", help="keep the work directory (every process's log)")
    ap.add_argument("--phases", default=None, help="run only these phases (comma-separated names), e.g. steady,upgrade")
    ap.add_argument("--corral", default=None,
                    help="the corral binary (default: build/cli/corral, which the run first builds with "
                         "scripts/build.sh, after installing what is missing with scripts/install-deps.sh)")
    ap.add_argument("--load-tool", default=None,
                    help="the probe and checker, reload_load (default: build/bench/reload_load beside --corral's build)")
    ap.add_argument("--keep-awake", default=None,
                    help="the SCHED_IDLE spinner that keeps both cores from halting during the run (default: "
                         "build/bench/keep_awake beside the load tool; 'off' to run without)")
    ap.add_argument("--no-shield", action="store_true",
                    help="leave other processes' threads on the system's core (by default, except with --short, "
                         "they are moved off it for the run and back after: proc.shield)")
    ap.add_argument("--check-every", type=int, default=1,
                    help="time every Nth change of the rate and add/remove phases to live (0: none), to measure "
                         "what the live checks' own polling costs the probe (default 1: every change)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lead-s", type=float, default=None, help="quiet seconds before a phase's first change")
    ap.add_argument("--tail-s", type=float, default=None, help="quiet seconds after its last change")
    ap.add_argument("--probe-rate", type=float, default=500, help="open-loop probe requests per second")
    ap.add_argument("--start-budget-s", type=float, default=300,
                    help="a system predicted (from its smaller runs) to need longer to start is not run at that R, "
                         "and a start that does is stopped")
    ap.add_argument("--max-reload-s", type=float, default=30,
                    help="phases that make a peer reload its whole configuration are not run once one load takes longer")
    ap.add_argument("--attempts", type=int, default=None,
                    help="run a phase up to this many times while the host steals more than --max-steal-ms-per-s "
                         "from a core (default 3; short mode 1); the least disturbed attempt's latency is kept, "
                         "every attempt's failures are counted")
    ap.add_argument("--max-steal-ms-per-s", type=float, default=5.0,
                    help="host steal (/proc/stat) per second of a phase, on either core, above which the phase "
                         "counts as disturbed by the host")
    ap.add_argument("--long-lived", type=int, default=1000)
    ap.add_argument("--wrk-conns", type=int, default=32)
    ap.add_argument("--wrk-delay-ms", type=int, default=10, help="pause per keep-alive wrk request (bounds the load)")
    ap.add_argument("--churn-conns", type=int, default=4)
    ap.add_argument("--churn-delay-ms", type=int, default=10)
    args = ap.parse_args()

    # The backends use fixed ports (catalog.BACKEND_PORTS): one run at a time,
    # and a run waiting for another does not build meanwhile either.
    # (Run this script directly, not under flock(1) on the same file: that would
    # hold the lock this process then waits for.)
    lock = open("/tmp/corral-reload-bench.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("waiting for /tmp/corral-reload-bench.lock: another reload benchmark run holds it")
        fcntl.flock(lock, fcntl.LOCK_EX)
    if args.corral is None:
        prepare()
        args.corral = os.path.join(ROOT, "build", "cli", "corral")
    for tool in ("wrk", "nginx", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: run scripts/install-deps.sh")
    if args.load_tool is None:
        args.load_tool = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.corral))), "bench",
                                      "reload_load")
    if not os.access(args.load_tool, os.X_OK):
        sys.exit(f"{args.load_tool} is missing: run scripts/build.sh reload_load (or pass --load-tool)")
    if args.keep_awake is None:
        args.keep_awake = os.path.join(os.path.dirname(os.path.abspath(args.load_tool)), "keep_awake")
    if args.keep_awake != "off" and not os.access(args.keep_awake, os.X_OK):
        sys.exit(f"{args.keep_awake} is missing: run scripts/build.sh keep_awake (or pass --keep-awake off)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 CPUs: the system under test on core 0, the load on core 1")
    # This driver (and, for corral, the Marathon stand-in serving its event
    # stream, a thread here) belongs on the load core too: left free it ran
    # on the proxy's core and its bursts showed up as the proxy's latency.
    os.sched_setaffinity(0, {LOAD_CPU})
    # ... and ahead of wrk and the backends there: a change is timed from the
    # moment this process hands it over, so it must not wait for the core
    # behind them (reload_load runs above all of them, real-time).
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        pass  # unprivileged: as it is
    if args.attempts is None:
        args.attempts = 1 if args.short else 3
    if args.lead_s is None:
        args.lead_s = 0.5 if args.short else 1.0
    if args.tail_s is None:
        args.tail_s = 1.0 if args.short else 2.0
    routes_list = [int(x) for x in (args.routes or ("100,1000" if args.short else "100,1000,10000,100000")).split(",")]
    plan = phase_plan(args.short)
    if args.phases:
        wanted = args.phases.split(",")
        unknown = [w for w in wanted if w not in [p[0] for p in plan]]
        if unknown:
            sys.exit(f"--phases: no phase {unknown[0]!r} in this mode ({', '.join(p[0] for p in plan)})")
        plan = [p for p in plan if p[0] in wanted]
    plan_names = [p[0] for p in plan]
    classes = []
    for name in args.systems.split(","):
        cls, why = load_system(name)
        if cls is None:
            print(f"skipping {name}: {why}", flush=True)
        else:
            classes.append(cls)
    if not classes:
        sys.exit("no system to benchmark")
    out_dir = args.out or tempfile.mkdtemp(prefix="corral-reload-bench-")
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="corral-reload-work-")
    t_run = time.monotonic()
    # A SIGTERM (ctest's timeout, Ctrl-C's cousin) unwinds like an exception, so every
    # process this run started is stopped by the finally clauses on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Not in --short mode: CI runs it beside other tests, and the processes they
    # start meanwhile would inherit a shielded parent's affinity for good.
    shielded = [] if args.no_shield or args.short else proc.shield(SYSTEM_CPU)
    if shielded:
        log(f"core {SYSTEM_CPU} shielded: {len(shielded)} other threads moved off it for the run")
    awake = start_keep_awake(args.keep_awake)
    backends = Backends(work, LOAD_CPU)
    try:
        backends.start()
    except BaseException:
        for p in awake:
            p.kill()
            p.wait(5)
        proc.unshield(shielded)
        raise
    results, errors, skipped = [], [], []
    try:
        starts = {}  # system -> [(routes, start seconds)], for the start budget
        for R in routes_list:
            routes = make_catalog(R, args.seed)
            for rnd in range(args.rounds):
                for cls in classes:
                    predicted, why = predicted_start(starts.get(cls.name, []), R)
                    if predicted is not None and predicted > args.start_budget_s:
                        why = f"not run: {why}, over --start-budget-s {args.start_budget_s:.0f}"
                        if rnd == 0:
                            log(f"{cls.name} with {R} routes {why}")
                            skipped.append({"system": cls.name, "routes": R, "why": why})
                        continue
                    log(f"round {rnd + 1}: {cls.name} with {R} routes")
                    try:
                        res = run_system(args, cls, routes, args.seed, plan, work)
                    except Exception as e:  # one system failing must not lose the others' figures
                        log(f"{cls.name} with {R} routes failed: {e}")
                        errors.append({"system": cls.name, "routes": R, "round": rnd + 1, "error": str(e)})
                        continue
                    res["round"] = rnd + 1
                    results.append(res)
                    # What the next R's start will cost: the start itself or, for a peer, its
                    # slowest whole-configuration load in this run (a reload under load).
                    starts.setdefault(cls.name, []).append((R, max(res["start_s"], res.get("config_load_s") or 0)))
    finally:
        backends.stop()
        for p in awake:
            p.kill()
            p.wait(5)
        proc.unshield(shielded)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                       f"Linux {platform.release()}",
            "command": " ".join(["bench/reload/run.py"] + sys.argv[1:]),
            "mode": "short" if args.short else "full", "routes": routes_list, "phases": plan,
            "systems": [c.name for c in classes], "window_s": WINDOW_S, "probe_rate": args.probe_rate,
            "long_lived": args.long_lived, "keep_awake": bool(awake), "shielded_threads": len(shielded),
            "runtime_s": None}
    meta["errors"] = errors
    meta["skipped"] = skipped
    extra = derived(results, plan_names)
    meta["runtime_s"] = time.monotonic() - t_run
    md = markdown(meta, results, extra, plan_names)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results, "errors": errors, "derived": extra}, f)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(md)
    made = plots(out_dir, results, extra, plan_names)
    print(md)
    for e in errors:
        print(f"FAILED: {e['system']} with {e['routes']} routes (round {e['round']}): {e['error']}")
    print(f"results: {out_dir}/results.json, summary.md, " + ", ".join(os.path.basename(p) for p in made))
    print(f"runtime {meta['runtime_s']:.0f}s")
    if args.keep_work:
        print(f"work files (logs of every process) kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
