#!/usr/bin/python3
"""Drives a real corral cluster with Debian's python3-marathon client.

Usage: python_marathon_test.py /path/to/corral

Starts its own master and two agents (own loopback addresses, free ports, a
temporary work dir), then uses marathon.MarathonClient the way a Marathon user
would: create an app with 3 instances, list apps and tasks, reach every task
on its dynamic port, scale 3 -> 5 -> 3, kill a task and see it replaced,
restart the app, read deployments, the queue, info and versions, delete the
app. Then the rest of the client's public methods (run_surface; the group
calls are the groups test's) with event_stream() parsing every event of it. Exits non-zero with a clear message on the first failure; always stops
every process it started.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

import marathon
import marathon.models.events
from marathon.models import MarathonApp, MarathonHealthCheck

NET = "127.30.0."
MASTER_IP = NET + "1"
AGENT_IPS = [NET + "2", NET + "3"]


class TestFailure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


def free_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, pred, timeout=30.0, interval=0.2):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = pred()
            if value:
                return value
        except Exception as e:  # the condition may raise while things settle
            last_error = e
        time.sleep(interval)
    raise TestFailure("timed out after %.0fs waiting for %s%s" %
                      (timeout, what, " (last error: %r)" % last_error if last_error else ""))


def http_get(host, port, path="/", timeout=3.0):
    with urllib.request.urlopen("http://%s:%d%s" % (host, port, path), timeout=timeout) as r:
        return r.status, r.read().decode()


class Cluster:
    def __init__(self, corral):
        self.corral = corral
        self.dir = tempfile.mkdtemp(prefix="corral-pytest-")
        self.procs = []  # (name, Popen, log path)
        self.master_port = free_port(MASTER_IP)
        self.agent_ports = {}

    def spawn(self, name, args):
        log = os.path.join(self.dir, name.replace(" ", "_") + ".log")
        with open(log, "ab") as out:
            p = subprocess.Popen([self.corral] + args, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, p, log))
        return p

    def start(self):
        self.spawn("master", ["master", "--listen", "%s:%d" % (MASTER_IP, self.master_port),
                              "--work-dir", os.path.join(self.dir, "master")])
        self.url = "http://%s:%d" % (MASTER_IP, self.master_port)
        wait_for("master /ping", lambda: http_get(MASTER_IP, self.master_port, "/ping")[0] == 200, 15)
        for i, ip in enumerate(AGENT_IPS):
            port = free_port(ip)
            self.agent_ports[ip] = port
            self.spawn("agent %d" % i, [
                "agent", "--ip", ip, "--port", str(port),
                "--master", "%s:%d" % (MASTER_IP, self.master_port),
                "--resources", "cpus:4;mem:4096;disk:1000;ports:[31000-31100]",
                "--attributes", "rack:r%d" % i,
                "--work-dir", os.path.join(self.dir, "agent%d" % i)])

        def agents_active():
            _, body = http_get(MASTER_IP, self.master_port, "/v1/agents")
            agents = json.loads(body)["agents"]
            return sum(a["status"] == "ACTIVE" for a in agents) == len(AGENT_IPS)
        wait_for("both agents ACTIVE", agents_active, 20)

    def agent_state(self, ip):
        _, body = http_get(ip, self.agent_ports[ip], "/state")
        return json.loads(body)

    def stop(self, dump_logs):
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, p, _ in self.procs:
            try:
                p.wait(timeout=6)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        # Tasks run in process groups of their own; kill whatever still runs in our dir.
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.readlink("/proc/%s/cwd" % pid).startswith(self.dir):
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        if dump_logs:
            for name, _, log in self.procs:
                sys.stderr.write("----- %s (%s) -----\n" % (name, log))
                with open(log, errors="replace") as f:
                    lines = f.readlines()
                sys.stderr.write("".join(lines[-200:]))
            sys.stderr.write("(work dir kept: %s)\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def running_tasks(client, app_id):
    return [t for t in client.list_tasks(app_id=app_id) if t.state == "TASK_RUNNING"]


def wait_stable(client, app_id, n, timeout=30):
    """The app's running tasks, from the poll that found it stable (asking
    again could see tasks a kill in progress has just taken away)."""
    seen = []

    def stable():
        app = client.get_app(app_id)
        tasks = running_tasks(client, app_id)
        ok = (app.instances == n and not app.deployments and len(tasks) == n and
              app.tasks_running == n)
        if ok:
            seen[:] = tasks
        return ok
    wait_for("%s to run %d tasks with no deployment" % (app_id, n), stable, timeout)
    return seen


def check_tasks_answer(tasks):
    seen = set()
    for t in tasks:
        check(len(t.ports) >= 1, "task %s has no port" % t.id)
        endpoint = (t.host, t.ports[0])
        check(endpoint not in seen, "two tasks share %s:%d" % endpoint)
        seen.add(endpoint)
        expected = "hello from %s at %s:%d\n" % (t.id, t.host, t.ports[0])
        # TASK_RUNNING means the process started, not that it listens yet: retry briefly.
        wait_for("task %s at %s:%d to answer %r" % (t.id, t.host, t.ports[0], expected),
                 lambda: http_get(t.host, t.ports[0]) == (200, expected), 5, 0.05)


def run(cluster):
    client = marathon.MarathonClient(cluster.url, timeout=10)
    check(client.ping() is not None, "ping failed")

    info = client.get_info()
    check(info.name == "marathon", "get_info name is %r" % info.name)
    check(info.leader, "get_info has no leader")

    app_id = "/pyweb"
    app = MarathonApp(
        cmd="exec %s demo-server" % cluster.corral, instances=3, cpus=0.1, mem=32,
        port_definitions=[{"port": 0, "protocol": "tcp", "name": "http"}],
        health_checks=[MarathonHealthCheck(protocol="HTTP", path="/health", port_index=0,
                                           grace_period_seconds=10, interval_seconds=1,
                                           timeout_seconds=1, max_consecutive_failures=3,
                                           delay_seconds=0)],
        upgrade_strategy={"minimum_health_capacity": 0.5, "maximum_over_capacity": 0.5},
        labels={"team": "py"})
    created = client.create_app(app_id, app)
    check(created, "create_app returned %r" % created)
    check(created.id == app_id, "created app id is %r" % created.id)

    apps = client.list_apps()
    check([a.id for a in apps] == [app_id], "list_apps: %r" % [a.id for a in apps])
    check([a.id for a in client.list_apps(label="team==py")] == [app_id], "label filter")

    tasks = wait_stable(client, app_id, 3)
    check_tasks_answer(tasks)
    all_tasks = client.list_tasks()
    check(sorted(t.id for t in all_tasks) == sorted(t.id for t in tasks), "list_tasks() differs")
    got = client.get_app(app_id)
    check(got.tasks_healthy == 3, "tasks_healthy is %r" % got.tasks_healthy)

    client.scale_app(app_id, instances=5)
    tasks5 = wait_stable(client, app_id, 5)
    check_tasks_answer(tasks5)
    check({t.id for t in tasks} <= {t.id for t in tasks5}, "scaling up replaced tasks")

    client.scale_app(app_id, instances=3)
    tasks3 = wait_stable(client, app_id, 3)
    check_tasks_answer(tasks3)

    # Kill one task through the API: it is replaced.
    victim = tasks3[0]
    killed = client.kill_task(app_id, victim.id)
    check(getattr(killed, "id", None) == victim.id, "kill_task returned %r" % killed)
    def replaced():
        ts = running_tasks(client, app_id)
        return len(ts) == 3 and victim.id not in {t.id for t in ts} and ts
    tasks_after_kill = wait_for("killed task to be replaced", replaced, 30)
    wait_stable(client, app_id, 3)
    check_tasks_answer(tasks_after_kill)

    # Kill one task's process: it is replaced and recorded as the last failure.
    victim2 = tasks_after_kill[0]
    pid = next(t["pid"] for t in cluster.agent_state(victim2.host)["tasks"] if t["id"] == victim2.id)
    os.kill(pid, signal.SIGKILL)
    wait_for("killed process to be replaced",
             lambda: len(running_tasks(client, app_id)) == 3 and
             victim2.id not in {t.id for t in running_tasks(client, app_id)}, 30)
    failure = client.get_app(app_id).last_task_failure
    check(failure is not None and failure.task_id == victim2.id,
          "last_task_failure is %r" % (failure and failure.task_id))

    # Restart: a rolling replacement; deployments are visible while it runs.
    wait_stable(client, app_id, 3)
    before = {t.id for t in running_tasks(client, app_id)}
    versions_before = client.list_versions(app_id)
    r = client.restart_app(app_id)
    check("deploymentId" in r and "version" in r, "restart_app returned %r" % r)
    deployments = client.list_deployments()
    check(any(d.id == r["deploymentId"] for d in deployments) or not client.get_app(app_id).deployments,
          "list_deployments %r lacks %s" % ([d.id for d in deployments], r["deploymentId"]))
    for d in deployments:
        check(app_id in d.affected_apps, "deployment %s affects %r" % (d.id, d.affected_apps))
    queue = client.list_queue()
    check(isinstance(queue, list), "list_queue returned %r" % queue)
    for item in queue:
        check(item.app.id == app_id and item.count >= 1, "queue item %r" % item.__dict__)

    def restarted():
        ts = running_tasks(client, app_id)
        app_now = client.get_app(app_id)
        return (len(ts) == 3 and not app_now.deployments and not ({t.id for t in ts} & before) and
                all(t.version == r["version"] for t in ts) and app_now.tasks_healthy == 3)
    wait_for("restart to replace every task", restarted, 60)
    check(client.list_deployments() == [], "deployments left: %r" % client.list_deployments())
    check(client.list_queue() == [], "queue not empty after the restart")
    versions = client.list_versions(app_id)
    check(len(versions) == len(versions_before) + 1 and versions[0] == r["version"],
          "list_versions: %r (before %r, restart version %s)" % (versions, versions_before, r["version"]))
    old = client.get_version(app_id, versions[-1])
    check(old.instances == 3 and old.id == app_id, "get_version returned %r" % old)
    check_tasks_answer(running_tasks(client, app_id))

    # Delete: the app and its tasks go away.
    d = client.delete_app(app_id)
    check("deploymentId" in d, "delete_app returned %r" % d)
    wait_for("app deletion", lambda: client.list_apps() == [] and client.list_tasks() == [] and
             client.list_deployments() == [], 30)
    def agents_idle():
        return all(t["state"] not in ("TASK_RUNNING", "TASK_KILLING", "TASK_STARTING", "TASK_STAGING")
                   for ip in AGENT_IPS for t in cluster.agent_state(ip)["tasks"])
    wait_for("agents to stop every task", agents_idle, 20)
    try:
        client.get_app(app_id)
        raise TestFailure("get_app of a deleted app did not raise NotFoundError")
    except marathon.exceptions.NotFoundError:
        pass


class StreamReader:
    """Runs one client.event_stream() in a thread and keeps what it yields
    (or the exception a client would see)."""

    def __init__(self, client, **kwargs):
        self.items = []
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(client, kwargs), daemon=True)
        self.thread.start()

    def _run(self, client, kwargs):
        try:
            for item in client.event_stream(**kwargs):
                self.items.append(item)
        except Exception as e:  # what a client would see: the test reports it
            self.error = e

    def types(self):
        return [getattr(e, "event_type", None) for e in self.items]

    def of(self, cls, deployment_id=None):
        """The events of type cls (of one deployment: its plan's id or its own)."""
        out = [e for e in list(self.items) if isinstance(e, cls)]
        if deployment_id is not None:
            out = [e for e in out if getattr(getattr(e, "plan", None), "id", None) == deployment_id
                   or getattr(e, "id", None) == deployment_id]
        return out


def expect_error(what, call, error, status=None):
    """`call` raises the documented python3-marathon error (and status)."""
    try:
        got = call()
    except error as e:
        check(status is None or getattr(e, "status_code", None) == status,
              "%s raised %s with status %r, want %r" % (what, type(e).__name__,
                                                       getattr(e, "status_code", None), status))
        return e
    raise TestFailure("%s did not raise %s: %r" % (what, error.__name__, got))


def run_surface(cluster):
    """The rest of MarathonClient's public methods (group calls aside), each as
    Marathon answers it, and event_stream() parsing every event of one app's
    create, scale, kill, health failure, update, rollback and delete."""
    client = marathon.MarathonClient(cluster.url, timeout=10)
    stream = StreamReader(marathon.MarathonClient(cluster.url, timeout=300))
    wait_for("the event stream attached", lambda: stream.items or stream.error, 10)
    check(stream.error is None, "event_stream() raised %r" % stream.error)

    app_id = "/surface"
    client.create_app(app_id, MarathonApp(
        cmd="exec %s demo-server" % cluster.corral, instances=1, cpus=0.05, mem=16,
        port_definitions=[{"port": 0, "protocol": "tcp", "name": "http"}],
        health_checks=[MarathonHealthCheck(protocol="HTTP", path="/health", port_index=0,
                                           grace_period_seconds=10, interval_seconds=1,
                                           timeout_seconds=1, max_consecutive_failures=2)],
        labels={"stage": "one"}))
    wait_stable(client, app_id, 1)
    v1 = client.get_app(app_id).version

    # Reading: apps with every embed, endpoints, leader, metrics, subscriptions.
    got = client.list_apps(embed_tasks=True, embed_counts=True, embed_deployments=True,
                           embed_last_task_failure=True, app_id="surf")
    check([a.id for a in got] == [app_id] and got[0].tasks, "list_apps with embeds: %r" % got)
    check(client.get_app(app_id, embed_tasks=True).tasks, "get_app(embed_tasks) has no tasks")
    endpoints = client.list_endpoints()
    check(len(endpoints) == 1 and endpoints[0].app_id == app_id and endpoints[0].task_port,
          "list_endpoints: %r" % [e.__dict__ for e in endpoints])
    check(client.get_leader()["leader"].endswith(":%d" % cluster.master_port),
          "get_leader: %r" % client.get_leader())
    expect_error("delete_leader", client.delete_leader, marathon.exceptions.ConflictError, 409)
    check("counters" in client.get_metrics(), "get_metrics lacks counters")
    check(client.list_event_subscriptions() == [], "list_event_subscriptions")
    expect_error("create_event_subscription",
                 lambda: client.create_event_subscription("http://127.0.0.1:1/cb"),
                 marathon.exceptions.NotFoundError, 404)
    expect_error("delete_event_subscription",
                 lambda: client.delete_event_subscription("http://127.0.0.1:1/cb"),
                 marathon.exceptions.NotFoundError, 404)

    # Scaling by delta and with update_apps (one app: multi-app deployments are
    # the groups test's), then killing: scale=False replaces, scale=True shrinks.
    client.scale_app(app_id, delta=2)
    wait_stable(client, app_id, 3)
    r = client.update_apps([MarathonApp(id=app_id, instances=2)])
    check("deploymentId" in r, "update_apps returned %r" % r)
    tasks = wait_stable(client, app_id, 2)
    check(client.kill_given_tasks([tasks[0].id]) is True, "kill_given_tasks")
    wait_for("the task killed by id replaced",
             lambda: tasks[0].id not in {t.id for t in wait_stable(client, app_id, 2)}, 30)
    killed = client.kill_tasks(app_id)
    check(len(killed) >= 2 and all(isinstance(t, marathon.models.MarathonTask) for t in killed),
          "kill_tasks returned %r" % killed)
    killed_ids = {t.id for t in killed}
    wait_for("the killed tasks replaced",
             lambda: not killed_ids & {t.id for t in wait_stable(client, app_id, 2)}, 30)
    tasks = wait_stable(client, app_id, 2)
    r = client.kill_task(app_id, tasks[0].id, scale=True)
    check("deploymentId" in r, "kill_task(scale=True) returned %r" % r)
    wait_stable(client, app_id, 1)
    expect_error("kill_tasks(scale, wipe)", lambda: client.kill_tasks(app_id, scale=True, wipe=True),
                 marathon.exceptions.MarathonHttpError, 400)

    # A task failing its health check is killed and replaced.
    task = running_tasks(client, app_id)[0]
    req = urllib.request.Request("http://%s:%d/health/fail" % (task.host, task.ports[0]),
                                 method="POST", data=b"")
    urllib.request.urlopen(req, timeout=3).read()
    wait_for("the unhealthy task replaced",
             lambda: task.id not in {t.id for t in running_tasks(client, app_id)} and
             len(running_tasks(client, app_id)) == 1, 40)
    wait_stable(client, app_id, 1)

    # update_app, then rollback_app restores the first definition.
    r = client.update_app(app_id, MarathonApp(labels={"stage": "two"}), force=True)
    check("deploymentId" in r, "update_app returned %r" % r)
    wait_stable(client, app_id, 1)
    r = client.rollback_app(app_id, v1, force=True)
    check("deploymentId" in r, "rollback_app returned %r" % r)
    wait_stable(client, app_id, 1)
    check(client.get_app(app_id).labels == {"stage": "one"},
          "rollback_app left labels %r" % client.get_app(app_id).labels)
    expect_error("rollback_app to an unknown version",
                 lambda: client.rollback_app(app_id, "2001-01-01T00:00:00.000Z"),
                 marathon.exceptions.NotFoundError, 404)

    # delete_deployment: with a rollback, and forced; reset_delay.
    r = client.update_app(app_id, MarathonApp(cpus=512), force=True)
    dep = r["deploymentId"]
    r = client.delete_deployment(dep)
    check("deploymentId" in r and r["deploymentId"] != dep, "delete_deployment: %r" % r)
    wait_stable(client, app_id, 1)
    check(client.get_app(app_id).cpus == 0.05, "the cancelled deployment was not rolled back")
    r = client.update_app(app_id, MarathonApp(cpus=512), force=True)
    check(client.delete_deployment(r["deploymentId"], force=True) == {}, "delete_deployment(force)")
    wait_for("the forced cancellation", lambda: not client.list_deployments(), 10)
    client.update_app(app_id, MarathonApp(cpus=0.05), force=True)
    wait_stable(client, app_id, 1)
    client.create_app("/surface-huge", MarathonApp(cmd="sleep 600", instances=1, cpus=512, mem=16))
    queued = wait_for("the unplaceable app queued", lambda: [
        i for i in client.list_queue(embed_last_unused_offers=True)
        if i.app.id == "/surface-huge"], 10)
    check(queued[0].count == 1, "queue item %r" % queued[0].__dict__)
    client.reset_delay("/surface-huge")
    client.delete_app("/surface-huge", force=True)
    expect_error("reset_delay with nothing queued", lambda: client.reset_delay(app_id),
                 marathon.exceptions.NotFoundError, 404)

    client.delete_app(app_id, force=True)
    wait_for("the app gone", lambda: client.list_apps() == [], 30)

    # Every event of all that reached event_stream() and parsed.
    want = {"api_post_event", "deployment_info", "deployment_step_success", "deployment_success",
            "deployment_failed", "add_health_check_event", "remove_health_check_event",
            "status_update_event", "instance_changed_event", "health_status_changed_event",
            "instance_health_changed_event", "failed_health_check_event",
            "unhealthy_instance_kill_event", "app_terminated_event"}
    wait_for("every event type on the stream", lambda: stream.error is not None or
             want <= set(stream.types()), 20)
    check(stream.error is None, "event_stream() raised %r after %r" % (stream.error, stream.types()))
    check(all(isinstance(e, marathon.models.events.MarathonEvent) for e in stream.items),
          "event_stream() yielded %r" % [type(e) for e in stream.items if
                                         not isinstance(e, marathon.models.events.MarathonEvent)])
    adds = [e for e in stream.items if e.event_type == "add_health_check_event"]
    check(adds[0].app_id == app_id and adds[0].version and adds[0].health_check.path == "/health",
          "add_health_check_event: %r" % adds[0].__dict__)
    posts = [e for e in stream.items if e.event_type == "api_post_event"]
    check(all(p.client_ip == MASTER_IP or p.client_ip.startswith("127.") for p in posts),
          "api_post_event clientIp: %r" % [p.client_ip for p in posts])


def drive(cluster, run, passed):
    """Starts `cluster`, runs run(cluster), always stops it (its logs shown on
    failure); the exit code, with "PASS: <passed>" on success."""
    failed = True
    try:
        cluster.start()
        run(cluster)
        failed = False
    except Exception as e:
        sys.stderr.write("FAIL: %s: %s\n" % (type(e).__name__, e))
        traceback.print_exc()
    finally:
        cluster.stop(dump_logs=failed)
    if failed:
        return 1
    print("PASS: " + passed)
    return 0


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s /path/to/corral\n" % sys.argv[0])
        return 2
    corral = os.path.abspath(sys.argv[1])

    def everything(cluster):
        run(cluster)
        run_surface(cluster)

    return drive(Cluster(corral), everything, "python3-marathon drove the cluster end to end")


if __name__ == "__main__":
    sys.exit(main())
