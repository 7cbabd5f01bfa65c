#!/usr/bin/python3
"""The reload benchmark's own clients, in one asyncio process on the load
generator's core (run by run.py, one per phase):

* an OPEN-LOOP probe: a request every 1/--rate seconds on schedule whether or
  not earlier ones answered (each takes an idle keep-alive connection or opens
  one), latency measured from the scheduled send time, so a stalled proxy
  shows as a run of long latencies instead of fewer samples;
* --long long-lived keep-alive connections, opened before the phase and held
  across it, each sending a request every --long-interval seconds; a failure,
  a reset or a connection the proxy closes is counted.

Prints "ready <monotonic time>" once every long-lived connection is open, then
runs --duration seconds and writes the figures to --out as JSON. Requests go
to the "host path" pairs of --targets, spread round-robin. Times are
time.monotonic() (CLOCK_MONOTONIC), the clock of run.py's change markers.
"""

import argparse
import asyncio
import errno
import json
import random
import sys
import time

TIMEOUT = 5.0
# Requests of the probe in flight at once: beyond it a request waits for one to
# finish (its latency still counts from its scheduled time), so that a stall
# shows as latency instead of the probe opening ever more connections.
PROBE_IN_FLIGHT = 64


class Failures:
    def __init__(self):
        self.kinds = {}

    def add(self, kind):
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def total(self):
        return sum(self.kinds.values())


def classify(exc):
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return "reset"
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, asyncio.IncompleteReadError) or isinstance(exc, EOFError):
        return "closed"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, BrokenPipeError):
        return "broken_pipe"
    return type(exc).__name__


async def exchange(reader, writer, host, path):
    """One GET on an open connection; returns the status (raises on failure)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    if length is None:
        raise EOFError("response without Content-Length")
    if length:
        await reader.readexactly(length)
    return status


class Probe:
    def __init__(self, ip, port, targets, rate):
        self.ip, self.port, self.targets, self.rate = ip, port, targets, rate
        self.idle = []
        self.samples = []  # [scheduled send time, latency ms or None (failed)]
        self.failures = Failures()
        self.slots = asyncio.Semaphore(PROBE_IN_FLIGHT)

    async def one(self, t_sched, host, path):
        async with self.slots:
            await self._one(t_sched, host, path)

    async def _one(self, t_sched, host, path):
        conn = None
        while self.idle:
            r, w = self.idle.pop()
            if r.at_eof() or w.is_closing():
                w.close()  # the proxy closed it while idle: a client would not reuse it either
                continue
            conn = (r, w)
            break
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(self.ip, self.port), TIMEOUT)
            status = await asyncio.wait_for(exchange(conn[0], conn[1], host, path), TIMEOUT)
            if status != 200:
                raise ValueError(f"status {status}")
            self.samples.append([t_sched, (time.monotonic() - t_sched) * 1000.0])
            self.idle.append(conn)
        except Exception as e:  # every failure is a figure, never an abort
            kind = f"status_{str(e).split()[-1]}" if isinstance(e, ValueError) else classify(e)
            self.failures.add(kind)
            self.samples.append([t_sched, None])
            if conn is not None:
                conn[1].close()

    async def run(self, t0, duration):
        tasks = set()
        period = 1.0 / self.rate
        k = 0
        while True:
            t = t0 + k * period
            if t >= t0 + duration:
                break
            delay = t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            host, path = self.targets[k % len(self.targets)]
            task = asyncio.ensure_future(self.one(t, host, path))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
        if tasks:
            await asyncio.wait(tasks, timeout=TIMEOUT * 2 + 1)
        for r, w in self.idle:
            w.close()


class LongLived:
    def __init__(self, ip, port, targets, n, interval):
        self.ip, self.port, self.targets, self.n, self.interval = ip, port, targets, n, interval
        self.conns = []
        self.failures = Failures()  # failed requests on a held connection
        self.dropped = 0  # held connections the proxy closed between requests
        self.requests = 0
        self.reopened = 0

    async def open_all(self):
        async def one(i):
            return await asyncio.wait_for(asyncio.open_connection(self.ip, self.port), TIMEOUT)

        # In batches, so the proxy's accept queue never overflows.
        for start in range(0, self.n, 100):
            self.conns.extend(await asyncio.gather(*(one(i) for i in range(start, min(self.n, start + 100)))))

    async def hold(self, i, end):
        r, w = self.conns[i]
        host, path = self.targets[i % len(self.targets)]
        await asyncio.sleep(random.uniform(0, self.interval))
        while time.monotonic() < end:
            if r.at_eof():
                self.dropped += 1
                w.close()
                try:
                    r, w = await asyncio.wait_for(asyncio.open_connection(self.ip, self.port), TIMEOUT)
                    self.reopened += 1
                except Exception as e:
                    self.failures.add("reopen_" + classify(e))
                    return
            try:
                status = await asyncio.wait_for(exchange(r, w, host, path), TIMEOUT)
                self.requests += 1
                if status != 200:
                    self.failures.add(f"status_{status}")
            except Exception as e:
                self.failures.add(classify(e))
                w.close()
                try:
                    r, w = await asyncio.wait_for(asyncio.open_connection(self.ip, self.port), TIMEOUT)
                    self.reopened += 1
                except Exception as e2:
                    self.failures.add("reopen_" + classify(e2))
                    return
            await asyncio.sleep(self.interval * random.uniform(0.8, 1.2))
        w.close()

    async def run(self, end):
        await asyncio.gather(*(self.hold(i, end) for i in range(len(self.conns))))


async def main(a):
    targets = []
    with open(a.targets) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                targets.append((parts[0], parts[1]))
    if not targets:
        sys.exit(f"no targets in {a.targets}")
    random.seed(a.seed)
    ll = LongLived(a.ip, a.port, targets, a.long, a.long_interval)
    t_open = time.monotonic()
    await ll.open_all()
    t0 = time.monotonic() + 0.2
    print(f"ready {t0:.6f}", flush=True)
    probe = Probe(a.ip, a.port, targets, a.rate)
    end = t0 + a.duration
    await asyncio.gather(probe.run(t0, a.duration), ll.run(end))
    out = {
        "t0": t0, "duration": a.duration, "rate": a.rate, "open_long_s": t0 - 0.2 - t_open,
        "probe": {"samples": probe.samples, "failures": probe.failures.kinds, "failed": probe.failures.total()},
        "long_lived": {"connections": a.long, "requests": ll.requests, "failures": ll.failures.kinds,
                       "failed": ll.failures.total(), "dropped": ll.dropped, "reopened": ll.reopened},
    }
    with open(a.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ip", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--targets", required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--long", type=int, default=1000)
    ap.add_argument("--long-interval", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    asyncio.run(main(ap.parse_args()))
