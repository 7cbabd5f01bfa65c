#!/usr/bin/python3
"""The master at scale, over HTTP, with tasks launched on real agents: how big
and how slow GET /v2/apps?embed=apps.tasks and GET /v2/tasks are, how long
they hold the master's loop, what an event costs the master with N /v2/events
subscribers, how long a task's status change takes to reach the stream, and
the master's memory per app and per task.

Every task is a real process (`exec sleep 3600`) on a real agent, so the task
count is what the machine allows (pid_max, a shared 2-core box): 10,000 apps
are real, the running tasks default to 3,000 (--tasks). bench/micro_bench's
BM_AppsEmbedTasks / BM_TasksList / BM_TaskEventFanout render the same answers
at 10,000 apps / 30,000 tasks in memory.

usage: bench/cluster_scale.py [--corral build/cli/corral] [--apps 10000] [--tasks 3000]
                              [--agents 10] [--subscribers 10]
Prints one JSON line per measurement; docs/BENCHMARKS.md records the figures.
"""
import argparse, json, os, re, shutil, signal, statistics, sys, tempfile, threading, time
import http.client as httpclient
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_bench import free_port, http, wait, start_master, start_agents, stop_all  # noqa: E402

IP_PREFIX = "127.0.19."


def emit(**kv):
    print(json.dumps(kv), flush=True)


def proc_cpu_s(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def metric(master, name):
    text = http("GET", f"http://{master}/metrics/prometheus")[1].decode()
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def timed_get(master, target, timeout=120):
    t0 = time.perf_counter()
    status, body = http("GET", f"http://{master}{target}", timeout=timeout)
    assert status == 200, (target, status)
    return time.perf_counter() - t0, len(body), body


class Subscriber(threading.Thread):
    """One /v2/events stream; records (arrival time, type, data) of every event."""

    def __init__(self, master):
        super().__init__(daemon=True)
        host, port = master.rsplit(":", 1)
        self.conn = httpclient.HTTPConnection(host, int(port), timeout=600)
        self.events = []
        self.lock = threading.Lock()
        self.ready = threading.Event()

    def run(self):
        self.conn.request("GET", "/v2/events", headers={"Accept": "text/event-stream"})
        resp = self.conn.getresponse()
        self.ready.set()
        etype = None
        try:
            for raw in resp:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event: "):
                    etype = line[7:]
                elif line.startswith("data: "):
                    with self.lock:
                        self.events.append((time.perf_counter(), etype, line[6:]))
        except (OSError, ValueError, httpclient.HTTPException):
            pass

    def find(self, pred, after):
        with self.lock:
            for t, etype, data in self.events:
                if t >= after and pred(etype, data):
                    return t
        return None

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except (OSError, AttributeError):
            pass


def running_count(master):
    body = http("GET", f"http://{master}/v2/tasks?status=running", timeout=120)[1]
    return body.count(b'"state":"TASK_RUNNING"')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corral", default=os.path.join(os.path.dirname(__file__), "..", "build", "cli", "corral"))
    ap.add_argument("--apps", type=int, default=10000)
    ap.add_argument("--tasks", type=int, default=3000, help="running tasks, 3 per app on the first apps")
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--subscribers", type=int, default=10)
    ap.add_argument("--kills", type=int, default=100, help="tasks killed (and replaced) per CPU round")
    ap.add_argument("--timeout", type=int, default=900, help="bound on each wait, seconds")
    args = ap.parse_args()
    corral = os.path.abspath(args.corral)
    work = tempfile.mkdtemp(prefix="corral-scale-")
    piddir = os.path.join(work, "pids")
    os.makedirs(piddir)
    master = f"{IP_PREFIX}1:{free_port(IP_PREFIX + '1')}"
    logs = open(os.path.join(work, "cluster.log"), "w")
    procs, subs = [], []
    pool = ThreadPoolExecutor(8)
    try:
        mproc = start_master(corral, work, logs, master)
        procs.append(mproc)
        wait(lambda: http("GET", f"http://{master}/ping")[0] == 200, 30, "master")
        per_agent = (args.tasks + args.agents - 1) // args.agents + 20
        procs += start_agents(corral, work, logs, master, args.agents, per_agent, IP_PREFIX)
        rss0 = proc_rss_mb(mproc.pid)

        # 1. Apps, all at 0 instances: memory per app.
        def app_body(i, n):
            return {"id": f"/scale/app{i}", "instances": n, "cpus": 0.01, "mem": 1,
                    "cmd": f"echo $$ > {piddir}/$MESOS_TASK_ID; exec sleep 3600",
                    "portDefinitions": [{"port": 0, "name": "http"}],
                    "labels": {"HAPROXY_GROUP": "external", "team": "bench"}}
        t0 = time.time()
        for st in pool.map(lambda i: http("POST", f"http://{master}/v2/apps", app_body(i, 0), timeout=60)[0],
                           range(args.apps)):
            assert st == 201, st
        create_s = time.time() - t0
        wait(lambda: not json.loads(http("GET", f"http://{master}/v2/deployments")[1]), args.timeout, "deployments")
        rss_apps = proc_rss_mb(mproc.pid)
        emit(bench="create_apps", apps=args.apps, seconds=round(create_s, 1),
             apps_per_s=round(args.apps / create_s), master_rss_mb=round(rss_apps, 1),
             kb_per_app=round((rss_apps - rss0) * 1024 / args.apps, 2))

        # 2. Scale the first apps to 3: real processes on the agents. Memory per task.
        scaled = (args.tasks + 2) // 3
        t0 = time.time()
        for st in pool.map(lambda i: http("PUT", f"http://{master}/v2/apps/scale/app{i}",
                                          {"instances": 3}, timeout=60)[0], range(scaled)):
            assert st == 200, st
        total = scaled * 3
        wait(lambda: running_count(master) >= total, args.timeout, f"{total} tasks running")
        launch_s = time.time() - t0
        rss_tasks = proc_rss_mb(mproc.pid)
        emit(bench="launch", tasks=total, agents=args.agents, seconds_to_running=round(launch_s, 1),
             master_rss_mb=round(rss_tasks, 1), kb_per_task=round((rss_tasks - rss_apps) * 1024 / total, 2))

        # 3. The large answers: first (cold) and steady (median of 5), size.
        for target in ("/v2/apps?embed=apps.tasks", "/v2/tasks", "/v2/apps"):
            cold, size, body = timed_get(master, target)
            json.loads(body)
            times = [timed_get(master, target)[0] for _ in range(5)]
            emit(bench="get", target=target, apps=args.apps, tasks=total, mb=round(size / 1e6, 2),
                 first_ms=round(cold * 1000, 1), median_ms=round(statistics.median(times) * 1000, 1),
                 max_ms=round(max(times) * 1000, 1))

        # 4. The master's loop while large answers are served: /ping every 5 ms.
        def ping_lat(stop, out):
            while not stop.is_set():
                s = time.perf_counter()
                http("GET", f"http://{master}/ping")
                out.append(time.perf_counter() - s)
                time.sleep(0.005)
        for label, load in (("idle", 0), ("during_get_apps_embed_tasks", 5)):
            lat, stop = [], threading.Event()
            th = threading.Thread(target=ping_lat, args=(stop, lat))
            th.start()
            t_end = time.time() + 2
            for _ in range(load):
                timed_get(master, "/v2/apps?embed=apps.tasks")
            while time.time() < t_end:
                time.sleep(0.05)
            stop.set()
            th.join()
            lat.sort()
            emit(bench="loop_stall", while_=label, pings=len(lat),
                 p50_ms=round(lat[len(lat) // 2] * 1000, 2), p99_ms=round(lat[int(len(lat) * 0.99)] * 1000, 2),
                 max_ms=round(lat[-1] * 1000, 2))

        # 5. Master CPU per event, without and with N subscribers: kill tasks
        #    (each is replaced: kill, status updates, launch, running).
        tasks = [t["id"] for t in json.loads(http("GET", f"http://{master}/v2/tasks", timeout=120)[1])["tasks"]]
        cursor = 0
        for n in (0, args.subscribers):
            while len(subs) < n:
                s = Subscriber(master)
                s.start()
                s.ready.wait(10)
                subs.append(s)
            wait(lambda: metric(master, "corral_event_stream_subscribers") >= n, 30, "subscribers")
            batch = tasks[cursor:cursor + args.kills]
            cursor += args.kills
            ev0, cpu0 = metric(master, "corral_events_published_total"), proc_cpu_s(mproc.pid)
            list(pool.map(lambda tid: http("DELETE", f"http://{master}/v2/apps/{tid.rsplit('.', 1)[0].replace('_', '/')}"
                                                     f"/tasks/{tid}", timeout=60), batch))
            def replaced():
                body = http("GET", f"http://{master}/v2/tasks?status=running", timeout=120)[1].decode()
                return (body.count('"state":"TASK_RUNNING"') >= total
                        and not any(tid in body for tid in batch))
            wait(replaced, args.timeout, "replacements")
            ev1, cpu1 = metric(master, "corral_events_published_total"), proc_cpu_s(mproc.pid)
            events = ev1 - ev0
            emit(bench="event_cpu", subscribers=n, apps=args.apps, tasks=total, tasks_replaced=len(batch),
                 events=int(events), master_cpu_ms=round((cpu1 - cpu0) * 1000, 1),
                 cpu_us_per_event=round((cpu1 - cpu0) * 1e6 / max(events, 1), 1))

        # 6. A task's status change -> the event on the stream: its process is
        #    killed; the agent sees it exit and tells the master, which publishes.
        lat = []
        for tid in tasks[cursor:cursor + 20]:
            try:
                with open(os.path.join(piddir, tid)) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError):
                continue
            t0 = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            def seen():
                return all(s.find(lambda et, d, tid=tid: et == "status_update_event" and tid in d
                                  and "TASK_RUNNING" not in d, t0) for s in subs)
            wait(seen, 30, f"the event of {tid}")
            lat.append(max(s.find(lambda et, d, tid=tid: et == "status_update_event" and tid in d
                                  and "TASK_RUNNING" not in d, t0) for s in subs) - t0)
        lat.sort()
        if lat:
            emit(bench="status_to_stream", subscribers=len(subs), samples=len(lat),
                 p50_ms=round(lat[len(lat) // 2] * 1000, 1), max_ms=round(lat[-1] * 1000, 1),
                 note="process killed -> agent -> master -> event on every subscriber")
        # An API change -> its event on the stream (inside the master only).
        lat = []
        for i in range(20):
            app = f"/scale/app{args.apps - 1 - i}"
            t0 = time.perf_counter()
            http("PUT", f"http://{master}/v2/apps{app}", {"instances": 0, "labels": {"v": str(i)}})
            wait(lambda: all(s.find(lambda et, d: et == "api_post_event" and app in d, t0) for s in subs),
                 30, "api_post_event")
            lat.append(max(s.find(lambda et, d: et == "api_post_event" and app in d, t0) for s in subs) - t0)
        lat.sort()
        emit(bench="api_change_to_stream", subscribers=len(subs), samples=len(lat),
             p50_ms=round(lat[len(lat) // 2] * 1000, 1), max_ms=round(lat[-1] * 1000, 1))
    finally:
        for s in subs:
            s.close()
        pool.shutdown(wait=False, cancel_futures=True)
        stop_all(procs)
        logs.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
