#!/usr/bin/python3
"""Macro benchmark of the cluster: time to launch N tasks across M agents and
see them running (and healthy), and v2 API latency under concurrent clients.

usage: bench/cluster_bench.py [--corral build/cli/corral] [--tasks 1000] [--agents 10]
Prints one JSON line per measurement; docs/BENCHMARKS.md records the figures.
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time
import urllib.request


def free_port(ip="127.0.0.1"):
    s = socket.socket()
    s.bind((ip, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def wait(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return True
        except Exception:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def start_master(corral, work, logs, master, extra=()):
    """Starts `corral master` on master (host:port) in its own session; returns the Popen."""
    return subprocess.Popen([corral, "master", "--listen", master, "--work-dir", f"{work}/master", *extra],
                            stdout=logs, stderr=logs, start_new_session=True)


def start_agents(corral, work, logs, master, agents, per_agent, ip_prefix="127.0.9."):
    """Starts `agents` agents on ip_prefix.2, .3, ... each with room for per_agent tasks;
    waits until the master lists them ACTIVE. Returns their Popens."""
    procs = []
    for i in range(agents):
        ip = f"{ip_prefix}{i + 2}"
        procs.append(subprocess.Popen(
            [corral, "agent", "--ip", ip, "--port", str(free_port(ip)), "--master", master,
             "--resources", f"cpus:{per_agent};mem:{per_agent * 16};disk:1000;ports:[20000-{20000 + per_agent + 100}]",
             "--work-dir", f"{work}/agent-{i}"], stdout=logs, stderr=logs, start_new_session=True))
    wait(lambda: len([a for a in json.loads(http("GET", f"http://{master}/v1/agents")[1])["agents"]
                      if a["status"] == "ACTIVE"]) == agents, 60, "agents")
    return procs


def stop_all(procs):
    """SIGTERM to each process group (agents stop their tasks), SIGKILL after 20 s."""
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corral", default=os.path.join(os.path.dirname(__file__), "..", "build", "cli", "corral"))
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--api-clients", type=int, default=8)
    ap.add_argument("--api-requests", type=int, default=2000)
    args = ap.parse_args()
    corral = os.path.abspath(args.corral)
    work = tempfile.mkdtemp(prefix="corral-bench-")
    port = free_port()
    master = f"127.0.0.1:{port}"
    procs = []
    logs = open(os.path.join(work, "cluster.log"), "w")
    try:
        procs.append(start_master(corral, work, logs, master))
        per_agent = (args.tasks + args.agents - 1) // args.agents + 10
        procs += start_agents(corral, work, logs, master, args.agents, per_agent)
        app = {"id": "/bench", "cmd": "exec sleep 3600", "instances": args.tasks, "cpus": 0.01, "mem": 1,
               "portDefinitions": [{"port": 0}]}
        t0 = time.time()
        status, _ = http("POST", f"http://{master}/v2/apps", app)
        assert status == 201, status

        def running():
            a = json.loads(http("GET", f"http://{master}/v2/apps/bench")[1])["app"]
            return a["tasksRunning"] >= args.tasks and not a["deployments"]
        wait(running, 120, f"{args.tasks} tasks running")
        launch_s = time.time() - t0
        print(json.dumps({"bench": "launch", "tasks": args.tasks, "agents": args.agents,
                          "seconds_to_running": round(launch_s, 2)}), flush=True)

        # API latency: concurrent clients mixing reads of all apps/tasks and small writes.
        lat = []
        lock = threading.Lock()
        per_client = args.api_requests // args.api_clients

        def client(k):
            mine = []
            for i in range(per_client):
                s = time.perf_counter()
                if i % 10 == 0:
                    http("PUT", f"http://{master}/v2/apps/lat{k}?force=true",
                         {"cmd": "sleep 1", "instances": 0, "cpus": 0.01, "mem": 1})
                elif i % 2 == 0:
                    http("GET", f"http://{master}/v2/apps/bench")
                else:
                    http("GET", f"http://{master}/ping")
                mine.append(time.perf_counter() - s)
            with lock:
                lat.extend(mine)
        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.api_clients)]
        t1 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t1
        lat.sort()
        q = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2)
        print(json.dumps({"bench": "api_latency", "clients": args.api_clients, "requests": len(lat),
                          "rps": round(len(lat) / wall), "p50_ms": q(0.5), "p90_ms": q(0.9),
                          "p99_ms": q(0.99), "max_ms": q(1.0)}), flush=True)
        http("DELETE", f"http://{master}/v2/apps/bench")
    finally:
        stop_all(procs)
        logs.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
