#!/usr/bin/python3
"""CTest `reload_load_test`: runs the reload benchmark's load tool
(reload_load) against a small HTTP/1.1 keep-alive server on 127.0.0.1:0 and
checks its figures: probe samples on schedule, failures by kind (status_503,
bad_response, refused), idle closes not counted against the probe but counted
as dropped long-lived connections, chunked answers, and the live checks
(backend / serves / gone going live after the change, every poll on a new
connection, cancel -> superseded, an unmet check timing out), and that a bad
command stops it.
Usage: reload_load_test.py path/to/reload_load"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time


class Server:
    """Answers by path: /ok (Content-Length), /chunked, /s503, /bad (malformed
    status line), /closeidle (answers, then closes the idle connection),
    /switch (X-Backend is whatever `switch_to` says now), /gone (503)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.switch_to = "A"
        self.conns = []
        self.check_reuse = 0  # check polls that came on a connection used before
        self.check_keepalive = 0  # check polls without Connection: close
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _answer(self, path):
        if path == "/chunked":
            return b"HTTP/1.1 200 OK\r\nX-Backend: A\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nok\n\r\n0\r\nT: 1\r\n\r\n"
        if path in ("/s503", "/gone"):
            return b"HTTP/1.1 503 Unavailable\r\nContent-Length: 4\r\n\r\nnah\n"
        if path == "/bad":
            return b"HTTP/1.1 2x0 Broken\r\nContent-Length: 0\r\n\r\n"
        backend = self.switch_to if path == "/switch" else "A"
        return f"HTTP/1.1 200 OK\r\nx-backend: {backend}\r\ncontent-length: 3\r\n\r\nok\n".encode()

    def _serve(self, c):
        buf = b""
        served = 0
        with c:
            for _ in range(1000000):
                while b"\r\n\r\n" not in buf:
                    try:
                        data = c.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                path = head.split(b"\r\n")[0].split(b" ")[1].decode()
                close = b"\r\nconnection: close" in head.lower()
                if path in ("/switch", "/never", "/gone"):
                    self.check_reuse += served > 0
                    self.check_keepalive += not close
                served += 1
                try:
                    c.sendall(self._answer(path))
                except OSError:
                    return
                if close or path in ("/closeidle", "/bad"):
                    return

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def start(tool, port, targets, out, duration, rate, long_n, extra=()):
    p = subprocess.Popen([tool, "--port", str(port), "--targets", targets, "--duration", str(duration),
                          "--rate", str(rate), "--long", str(long_n), "--long-interval", "0.3",
                          "--out", out, *extra],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("ready "):
        p.kill()
        sys.exit(f"no ready line: {line!r} {p.stderr.read()}")
    return p, float(line.split()[1])


def main():
    tool = sys.argv[1]
    problems = []

    def expect(cond, what):
        if not cond:
            problems.append(what)

    work = tempfile.mkdtemp(prefix="reload-load-test-")
    targets = os.path.join(work, "targets.txt")
    with open(targets, "w") as f:
        f.write("h /ok\nh /chunked\nh /s503\nh /bad\nh /closeidle\nnot a target line\n")
    server = Server()
    out = os.path.join(work, "out.json")
    rate, duration = 200, 2.0
    p, t0 = start(tool, server.port, targets, out, duration, rate, 20, ["--live-timeout", "1"])

    def send(line):
        p.stdin.write(line + "\n")
        p.stdin.flush()

    # /switch answers A until the flip: check 1 wants B (live after the flip),
    # check 2 wants C and is cancelled, check 3 never happens (times out),
    # check 4 is a route already gone (503), check 5 serves B or C.
    time.sleep(max(0.0, t0 - time.monotonic()) + 0.2)
    t_submit = time.monotonic()
    send(f"check 1 {t_submit:.6f} backend h /switch B")
    send(f"check 2 {t_submit:.6f} backend h /switch C")
    send(f"check 3 {t_submit:.6f} backend h /never Z")
    send(f"check 4 {t_submit:.6f} gone h /gone -")
    send(f"check 5 {t_submit:.6f} serves h /switch B,C")
    send(f"check 6 {t_submit:.6f} backend h /never Z 3")  # rounds of 3 requests at once
    time.sleep(0.3)
    server.switch_to = "B"
    t_flip = time.monotonic()
    time.sleep(0.2)
    send("cancel 2")
    send("cancel 1")  # already live: stays live
    p.stdin.close()
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit("reload_load did not end within 15 s")
    err = p.stderr.read()
    expect(p.returncode == 0, f"exit {p.returncode}: {err}")
    with open(out) as f:
        doc = json.load(f)
    for key in ("t0", "duration", "rate", "open_long_s", "probe", "long_lived", "live"):
        expect(key in doc, f"missing {key}")
    expect(abs(doc["t0"] - t0) < 1e-5, f"t0 {doc['t0']} != ready {t0}")

    # Probe: one sample per 1/rate s, on schedule; targets round robin, so a
    # fifth of them each is a 503 and a malformed answer; idle closes are no failure.
    samples = doc["probe"]["samples"]
    n = int(rate * duration)
    expect(len(samples) == n, f"{len(samples)} probe samples, want {n}")
    expect(all(abs(s[0] - (t0 + k / rate)) < 1e-5 for k, s in enumerate(samples)), "samples off schedule")
    fails = dict(doc["probe"]["failures"])
    # A connection /closeidle's server thread closes just as the probe reuses it
    # is a real client's race too (reset or closed): on a busy machine it happens
    # now and then, so a few are allowed; every other kind is exact.
    raced = fails.pop("reset", 0) + fails.pop("closed", 0)
    expect(raced <= n // 50, f"{raced} probe requests lost a close race")
    expect(fails == {"status_503": n // 5, "bad_response": n // 5}, f"probe failures {fails}")
    expect(doc["probe"]["failed"] == 2 * n // 5 + raced, f"probe failed {doc['probe']['failed']}")
    ok = [s[1] for s in samples if s[1] is not None]
    expect(len(ok) == n - 2 * n // 5 - raced, f"{len(ok)} answered samples")
    # Bounds that say "measured, and sane": this server is Python threads, and
    # under ctest -j2 beside a build an answer can wait 100+ ms for a core.
    expect(all(0 < ms < 1000 for ms in ok), f"implausible latencies: max {max(ok or [0])} ms")
    failed_idx = {k % 5 for k, s in enumerate(samples) if s[1] is None}
    expect(failed_idx == {2, 3} or (raced and {2, 3} <= failed_idx),
           f"failed samples at target positions {failed_idx}, want 2 (/s503) and 3 (/bad)")

    # Long-lived: 20 connections sending every ~0.3 s for 2 s; 4 of them on
    # /closeidle are dropped after every answer and reopened.
    ll = doc["long_lived"]
    expect(ll["connections"] == 20, f"long connections {ll['connections']}")
    expect(80 <= ll["requests"] <= 160, f"long requests {ll['requests']}")
    expect(set(ll["failures"]) == {"status_503", "bad_response"}, f"long failures {ll['failures']}")
    expect(ll["dropped"] >= 8, f"long dropped {ll['dropped']}")
    expect(ll["reopened"] >= ll["dropped"], f"reopened {ll['reopened']} < dropped {ll['dropped']}")

    live = {c["id"]: c for c in doc["live"]}
    expect(set(live) == {"1", "2", "3", "4", "5", "6"}, f"live ids {sorted(live)}")
    c6 = live.get("6", {})
    # Check 6 polls /never like check 3, on the same schedule, but 3 requests a round.
    c3_answers = live.get("3", {}).get("answers", 0)
    expect(c6.get("status") == "timeout" and c6.get("answers", 0) >= 2.5 * c3_answers > 0,
           f"check 6 (fanout 3) {c6}: want about 3x check 3's {c3_answers} answers")
    # Live after the flip, never before it; how soon after is the server's
    # scheduling (its polls are 1% of the check's age apart, ~3 ms here).
    earliest, slack = t_flip - t_submit, 0.25
    for cid in ("1", "5"):
        c = live.get(cid, {})
        expect(c.get("status") == "live" and earliest - 0.01 <= c["s"] <= earliest + slack,
               f"check {cid} {c}: want live {earliest:.3f}..{earliest + slack:.3f} s after submit")
    print("live checks:", doc["live"], "flip after", round(earliest, 4))
    expect(live.get("2", {}).get("status") == "superseded", f"check 2 {live.get('2')}")
    expect(live.get("3", {}).get("status") == "timeout" and live["3"]["s"] is None, f"check 3 {live.get('3')}")
    c4 = live.get("4", {})
    expect(c4.get("status") == "live" and c4["s"] < 0.1, f"check 4 {c4}")
    # Every poll is a new client (a held connection can stay on a replaced server).
    # ... and they thin out as a check ages (1% of its age apart): without it check 3 polls 1,000+ times a second.
    expect(100 < live.get("3", {}).get("answers", 0) < 600, f"check 3 polled {live.get('3')} times in 1 s")
    expect(server.check_reuse == 0 and server.check_keepalive == 0,
           f"check polls reused {server.check_reuse} connections, {server.check_keepalive} without Connection: close")
    server.close()

    # Nothing listening: every probe is refused.
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    p, _ = start(tool, dead_port, targets, out, 0.2, 50, 0)
    p.stdin.close()
    p.wait(10)
    with open(out) as f:
        doc = json.load(f)
    expect(p.returncode == 0 and doc["probe"]["failures"] == {"refused": 10}, f"refused run: {doc['probe']}")

    # A command the tool cannot read stops it with a message (the driver has a bug).
    server = Server()
    p, _ = start(tool, server.port, targets, out, 5, 10, 0)
    p.stdin.write("check 9 notatime backend h / B\n")
    p.stdin.close()
    rc = p.wait(10)
    err = p.stderr.read()
    expect(rc == 2 and "bad t_submit" in err, f"bad command: exit {rc}, stderr {err!r}")
    server.close()

    for what in problems:
        print("FAIL:", what)
    if problems:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
