#!/usr/bin/python3
"""Two `corral up` on one machine, each with its own work dir and ports, both
get working agents (their agents' addresses follow --master-port); a third one
that would reuse the first one's DNS port refuses at start and says which
address is in use. An agent that keeps failing (its address taken) is
restarted less and less often, and `up` shows the agent's last error line.

usage: corral_up_two_clusters_test.py /path/to/corral
"""
import base64
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from up_test_util import Up, assert_gone, cmdline, descendants, free_port, wait  # noqa


def active_agents(work, master_port):
    # `corral up` protects the API with the admin it generated in its work dir.
    req = urllib.request.Request(f"http://127.0.0.1:{master_port}/v1/agents")
    with open(os.path.join(work, "credentials", "admin")) as f:
        token = base64.b64encode(f.read().strip().encode()).decode()
    req.add_header("Authorization", "Basic " + token)
    body = urllib.request.urlopen(req, timeout=3).read()
    return sorted(a["hostname"] for a in json.loads(body)["agents"] if a["status"] == "ACTIVE")


def main():
    corral = os.path.abspath(sys.argv[1])
    clusters = []
    runs = []
    try:
        for _ in range(2):
            work = tempfile.mkdtemp(prefix="corral-up-two-")
            ports = [free_port() for _ in range(3)]
            clusters.append((work, ports))
            runs.append(Up(corral, work, ["--master-port", str(ports[0]), "--dns-port",
                                          str(ports[1]), "--dns-http-port", str(ports[2]),
                                          "--proxy-http-port", str(free_port()),
                                          "--proxy-admin-port", str(free_port())]))
        for r in runs:
            r.wait_banner()
        agents = [wait(lambda: len(active_agents(w, p[0])) == 2 and active_agents(w, p[0]), 30,
                       f"2 active agents of the cluster on master port {p[0]}")
                  for w, p in clusters]
        assert not set(agents[0]) & set(agents[1]), agents

        # A third one on the first one's DNS port refuses, saying why.
        work3 = tempfile.mkdtemp(prefix="corral-up-two-")
        third = Up(corral, work3, ["--master-port", str(free_port()), "--dns-port",
                                   str(clusters[0][1][1]), "--dns-http-port", str(free_port()),
                                   "--proxy-http-port", str(free_port()),
                                   "--proxy-admin-port", str(free_port())])
        runs.append(third)
        third.proc.wait(timeout=30)
        assert third.proc.returncode != 0, third.output()
        assert f"127.0.0.1:{clusters[0][1][1]}" in third.output() and "in use" in third.output(), \
            third.output()
        assert "started master" not in third.output(), third.output()

        # An agent whose address is taken keeps failing: backoff, and its error shown.
        first = runs[0]
        ip = agents[0][0]
        agent = [p for p in descendants(first.proc.pid)
                 if cmdline(p)[1:2] == ["agent"] and ip in cmdline(p)][0]
        os.kill(agent, signal.SIGKILL)
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        wait(lambda: blocker.bind((ip, 5051)) is None or True, 5, f"binding {ip}:5051")
        blocker.listen()
        name = f"agent-{ip}"
        lines = lambda: [l for l in first.output().splitlines() if f"{name} exited" in l]
        wait(lambda: len(lines()) >= 4, 30, f"4 exits of {name}")
        delays = [float(re.search(r"restarting it in ([\d.]+) s", l).group(1)) for l in lines()]
        assert delays[:4] == [delays[0], delays[0] * 2, delays[0] * 4, delays[0] * 8], delays
        assert all("address already in use" in l.lower() for l in lines()[1:4]), lines()
        blocker.close()
        wait(lambda: ip in active_agents(clusters[0][0], clusters[0][1][0]), 40,
             f"{name} back after the clash")

        trees = [descendants(r.proc.pid) for r in runs[:2]]
        for r in runs[:2]:
            r.stop(signal.SIGTERM)
        for t in trees:
            assert_gone(t, "after SIGTERM of corral up")
    except Exception:
        for r in runs:
            r.dump()
        raise
    finally:
        for r in runs:
            if r.proc.poll() is None:
                r.stop()
    print("ok")


if __name__ == "__main__":
    main()
