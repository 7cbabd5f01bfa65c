#!/usr/bin/python3
"""corral proxy vs HAProxy vs nginx: small keep-alive HTTP/1.1 requests, side by side.

One run, on one machine, with one backend:
* the backend is an nginx that answers `200 hello` from memory (pinned to the
  load generator's core, so that it is never what the proxies wait for);
* each proxy runs ONE worker pinned to core 0; wrk runs on core 1;
* corral follows a Marathon stand-in started by this script (one app whose
  task is the backend, routed by `HAPROXY_0_VHOST`), exactly as it would
  follow a real Marathon; HAProxy and nginx get a static configuration
  routing the same Host to the same backend, tuned as their manuals advise
  (keep-alive and connection reuse to the backend, no logging, one thread);
* rounds alternate (corral, haproxy, nginx, corral, ...); each round reports
  requests/s, requests per proxy CPU-second (utime+stime of the proxy's
  process tree from /proc, before and after the round) and wrk's p50/p99;
  medians over the rounds are compared as ratios.

Usage: bench/proxy_bench.py [--corral build/cli/corral] [--rounds 3] [--seconds 10]
                            [--connections 64] [--only corral,haproxy,nginx]
                            [--markdown out.md]
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = "bench.example.test"
BACKEND_IP = "127.0.21.2"
PROXY_IP = "127.0.21.1"

sys.path.insert(0, HERE)
from dns_bench import Procs, log, proc_tree_cpu  # noqa: E402  (shared bench helpers)
from marathon_standin import StandIn, StaticCatalog  # noqa: E402


def free_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(ip, port, host, timeout=15):
    """Waits until GET / with Host answers 200 through ip:port."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            with socket.create_connection((ip, port), timeout=1) as s:
                s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                last = data.split(b"\r\n", 1)[0]
                if last.startswith(b"HTTP/1.1 200"):
                    return
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    raise RuntimeError(f"{ip}:{port} never answered 200 for {host} (last: {last!r})")


# ------------------------------------------------------------ Marathon stand-in


def stand_in_marathon(backend_port):
    """A Marathon that serves one app (the backend as its only task) and an idle event stream."""
    app = {
        "id": "/bench",
        "instances": 1,
        "version": "2026-12-01T00:00:00.000Z",
        "labels": {"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": HOST},
        "portDefinitions": [{"port": 10000, "protocol": "tcp", "name": "http"}],
        "healthChecks": [],
        "tasks": [{
            "id": "bench.task-1", "appId": "/bench", "host": BACKEND_IP,
            "slaveId": "agent-1", "ports": [backend_port], "servicePorts": [10000],
            "state": "TASK_RUNNING", "version": "2026-12-01T00:00:00.000Z",
            "ipAddresses": [{"ipAddress": BACKEND_IP, "protocol": "IPv4"}],
        }],
    }
    return StandIn(StaticCatalog([app]))


# ------------------------------------------------------------- configurations


def nginx_backend_conf(work, port):
    d = os.path.join(work, "backend")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path {d}/body;
  server {{
    listen {BACKEND_IP}:{port} reuseport backlog=4096;
    location / {{ add_header X-Backend backend-1; return 200 "hello\\n"; }}
  }}
}}
""")
    return conf


def haproxy_conf(work, port, backend_port):
    """HAProxy 2.6 as its manual advises for a keep-alive HTTP edge: one thread,
    HTTP keep-alive on both sides, idle connections to the server reused
    (http-reuse always), no logging, no health checks on the bench path."""
    d = os.path.join(work, "haproxy")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write(f"""global
  nbthread 1
  maxconn 4000
  tune.maxaccept 64

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option http-keep-alive
  http-reuse always

frontend http
  bind {PROXY_IP}:{port}
  use_backend bench if {{ hdr(host) -i {HOST} }}

backend bench
  server task1 {BACKEND_IP}:{backend_port} maxconn 0
""")
    return conf


def nginx_proxy_conf(work, port, backend_port):
    """nginx 1.22 as its documentation advises for a reverse proxy with
    upstream keep-alive: one worker, HTTP/1.1 to the upstream with the
    Connection header cleared, an idle keepalive cache, no access log."""
    d = os.path.join(work, "nginx-proxy")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; multi_accept on; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  upstream bench {{
    server {BACKEND_IP}:{backend_port};
    keepalive 128;
    keepalive_requests 1000000;
  }}
  server {{
    listen {PROXY_IP}:{port} backlog=4096;
    server_name {HOST};
    location / {{
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }}
  }}
}}
""")
    return conf


# ------------------------------------------------------------------ one round

def parse_wrk(out):
    """Requests/s, p50 and p99 (ms) and error counts from `wrk --latency`."""
    res = {"rps": 0.0, "p50": None, "p99": None, "errors": 0, "requests": 0}
    for line in out.splitlines():
        s = line.split()
        if line.startswith("Requests/sec:"):
            res["rps"] = float(s[1])
        elif len(s) == 2 and s[0] in ("50%", "99%"):
            res["p50" if s[0] == "50%" else "p99"] = to_ms(s[1])
        elif "requests in" in line:
            res["requests"] = int(s[0])
        elif line.strip().startswith("Non-2xx"):
            res["errors"] += int(s[-1])
        elif line.strip().startswith("Socket errors"):
            res["errors"] += sum(int(x.strip(",")) for x in s[3::2])
    return res


def to_ms(v):
    for suffix, mult in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(suffix):
            return float(v[: -len(suffix)]) * mult
    return float(v)


def run_round(name, pid, port, args):
    cpu0 = proc_tree_cpu(pid)
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s",
           "--latency", "-H", f"Host: {HOST}", f"http://{PROXY_IP}:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    cpu = proc_tree_cpu(pid) - cpu0
    r = parse_wrk(out)
    r["cpu"] = cpu
    r["per_cpu_s"] = r["requests"] / cpu if cpu > 0 else 0.0
    log(f"  {name:8s} {r['rps']:10.0f} req/s  {r['per_cpu_s']:10.0f} req/CPU-s  "
        f"p50 {r['p50']} ms  p99 {r['p99']} ms  errors {r['errors']}  cpu {cpu:.2f} s")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corral", default=os.path.join(ROOT, "build", "cli", "corral"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--only", default="corral,haproxy,nginx")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    systems = [s for s in args.only.split(",") if s]
    for tool in ("taskset", "wrk", "nginx", "haproxy"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} is missing: run scripts/install-deps.sh")
    if "corral" in systems and not os.access(args.corral, os.X_OK):
        sys.exit(f"{args.corral} is not built: run scripts/build.sh corral")

    work = tempfile.mkdtemp(prefix="corral-proxy-bench-")
    procs = Procs(work)
    marathon = None
    try:
        backend_port = free_port(BACKEND_IP)
        procs.start("backend", ["/usr/sbin/nginx", "-c", nginx_backend_conf(work, backend_port),
                                "-p", work + "/backend"], cpu=1)
        wait_http(BACKEND_IP, backend_port, HOST)
        servers = {}
        if "haproxy" in systems:
            port = free_port(PROXY_IP)
            conf = haproxy_conf(work, port, backend_port)
            subprocess.run(["/usr/sbin/haproxy", "-c", "-q", "-f", conf], check=True)
            servers["haproxy"] = (procs.start("haproxy", ["/usr/sbin/haproxy", "-db", "-f", conf], cpu=0), port)
        if "nginx" in systems:
            port = free_port(PROXY_IP)
            conf = nginx_proxy_conf(work, port, backend_port)
            servers["nginx"] = (procs.start("nginx", ["/usr/sbin/nginx", "-c", conf, "-p", work + "/nginx-proxy"],
                                            cpu=0), port)
        if "corral" in systems:
            marathon = stand_in_marathon(backend_port)
            port = free_port(PROXY_IP)
            admin = free_port("127.0.0.1")
            servers["corral"] = (procs.start("corral", [
                args.corral, "proxy", f"--master={marathon.address}", "--group=external",
                f"--http-listen={PROXY_IP}:{port}", "--https-listen=", f"--admin-listen=127.0.0.1:{admin}",
                "--workers=1"], cpu=0), port)
        for name, (p, port) in servers.items():
            try:
                wait_http(PROXY_IP, port, HOST)
            except RuntimeError:
                with open(os.path.join(work, name + ".log"), errors="replace") as f:
                    log(f"{name} log:\n" + f.read()[-2000:])
                raise
            log(f"{name} answers on {PROXY_IP}:{port}")

        # Warm up each proxy's backend connections, then alternate rounds.
        results = {name: [] for name in servers}
        for name, (p, port) in servers.items():
            subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{args.connections}", "-d2s",
                            "-H", f"Host: {HOST}", f"http://{PROXY_IP}:{port}/"], capture_output=True)
        for rnd in range(args.rounds):
            log(f"round {rnd + 1}/{args.rounds}")
            for name, (p, port) in servers.items():
                results[name].append(run_round(name, p.pid, port, args))
        report(results, args)
    finally:
        if marathon is not None:
            marathon.stop()
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def median_of(rounds, key):
    xs = [r[key] for r in rounds if r[key] is not None]
    return statistics.median(xs) if xs else float("nan")


def report(results, args):
    rows = []
    for name, rounds in results.items():
        rows.append((name, median_of(rounds, "rps"), median_of(rounds, "per_cpu_s"),
                     median_of(rounds, "p50"), median_of(rounds, "p99"),
                     sum(r["errors"] for r in rounds)))
    base = {r[0]: r for r in rows}
    lines = ["| proxy | requests/s | requests per proxy CPU-s | p50 ms | p99 ms | errors |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, rps, pcs, p50, p99, errs in rows:
        lines.append(f"| {name} | {rps:,.0f} | {pcs:,.0f} | {p50:.3f} | {p99:.3f} | {errs} |")
    if "corral" in base:
        c = base["corral"]
        for peer in ("haproxy", "nginx"):
            if peer in base:
                b = base[peer]
                lines.append(f"\ncorral / {peer}: requests/s {c[1] / b[1]:.2f}x, per CPU-second "
                             f"{c[2] / b[2]:.2f}x, p99 {c[4] / b[4]:.2f}x")
    text = "\n".join(lines)
    print(text)
    cmd = " ".join(["bench/proxy_bench.py"] + sys.argv[1:])
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                    f"{os.cpu_count()} CPUs, command `{cmd}` "
                    f"({args.rounds} alternating rounds of {args.seconds} s, "
                    f"{args.connections} keep-alive connections; medians)\n\n{text}\n")


if __name__ == "__main__":
    main()
