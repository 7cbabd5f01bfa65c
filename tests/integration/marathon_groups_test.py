#!/usr/bin/python3
"""Groups and multi-app deployments (issue 9) with Debian's python3-marathon client.

Usage: marathon_groups_test.py /path/to/corral

Starts a master and two agents (python_marathon_test's Cluster, on loopback
addresses of its own), then, as a Marathon user would: creates a group of
three apps with dependencies db <- api <- web and watches event_stream() parse
one deployment whose steps start db, then api, then web, each only after the
one before runs; sees a POST of the same group refused with 409; PUTs the
group without web and sees web removed; asks for a dry run of the rollback and
sees nothing change; rolls the group back to its first version (web returns);
restarts the master and finds the group, its apps and its versions again.
Exits non-zero with a clear message on the first failure; always stops every
process it started.
"""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_marathon_test as pmt  # noqa: E402

import marathon  # noqa: E402
from marathon.models import MarathonApp, MarathonGroup  # noqa: E402
from marathon.models.events import (MarathonDeploymentInfo, MarathonDeploymentStepSuccess,  # noqa: E402
                                    MarathonDeploymentSuccess, MarathonGroupChangeSuccess,
                                    MarathonStatusUpdateEvent)

# Addresses of this test's own, so it never meets the other Marathon tests' clusters.
pmt.NET = "127.32.0."
pmt.MASTER_IP = pmt.NET + "1"
pmt.AGENT_IPS = [pmt.NET + "2", pmt.NET + "3"]

check = pmt.check
wait_for = pmt.wait_for


def request(cluster, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(cluster.url + path, method=method, data=data,
                                 headers={"Accept": "application/json",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return e.code, json.loads(text) if text else None


StreamReader = pmt.StreamReader


def app(app_id, deps=()):
    return MarathonApp(id=app_id, cmd="sleep 600", instances=1, cpus=0.1, mem=16,
                       dependencies=list(deps))


def product():
    return MarathonGroup(id="/g", apps=[app("/g/web", ["/g/api"]), app("/g/api", ["/g/db"]),
                                        app("/g/db")])


def succeeded(stream, deployment_id):
    return bool(stream.of(MarathonDeploymentSuccess, deployment_id))


def restart_master(cluster):
    name, proc, log = next(p for p in cluster.procs if p[0] == "master")
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)
    cluster.procs.remove((name, proc, log))
    cluster.spawn("master", ["master", "--listen", "%s:%d" % (pmt.MASTER_IP, cluster.master_port),
                             "--work-dir", os.path.join(cluster.dir, "master")])
    wait_for("restarted master /ping",
             lambda: pmt.http_get(pmt.MASTER_IP, cluster.master_port, "/ping")[0] == 200, 15)


def run(cluster):
    client = marathon.MarathonClient(cluster.url, timeout=10)
    stream = StreamReader(marathon.MarathonClient(cluster.url, timeout=120))
    wait_for("event stream attached", lambda: stream.items and stream.error is None, 10)

    # 1. One deployment, steps in dependency order, each waiting for the one before.
    created = client.create_group(product())
    dep = created["deploymentId"]
    wait_for("deployment_success of the group", lambda: succeeded(stream, dep), 60)
    check(stream.error is None, "event_stream() raised %r" % stream.error)
    infos = stream.of(MarathonDeploymentInfo, dep)
    step_apps = [[a["app"] for a in i.current_step["actions"]] for i in infos]
    check(step_apps == [["/g/db"], ["/g/api"], ["/g/web"]],
          "deployment_info steps: %r" % step_apps)
    plan = infos[0].plan
    check(plan.target.id == "/" and plan.original.id == "/",
          "plan trees: %r / %r" % (plan.original.id, plan.target.id))
    check([g["id"] for g in plan.target.groups] == ["/g"], "target groups %r" % plan.target.groups)
    check(len(plan.steps) == 3, "plan steps: %r" % plan.steps)
    check(len(stream.of(MarathonDeploymentStepSuccess, dep)) == 3,
          "deployment_step_success count %d" % len(stream.of(MarathonDeploymentStepSuccess, dep)))
    changes = stream.of(MarathonGroupChangeSuccess)
    check(any(c.group_id == "/g" and c.version == created["version"] for c in changes),
          "group_change_success: %r" % [(c.group_id, c.version) for c in changes])
    # Each app's first task runs only after the app it depends on runs.
    first_running = {}
    for i, e in enumerate(stream.items):
        if isinstance(e, MarathonStatusUpdateEvent) and e.task_status == "TASK_RUNNING":
            first_running.setdefault(e.app_id, i)
    first_staged = {}
    for i, e in enumerate(stream.items):
        if isinstance(e, MarathonStatusUpdateEvent):
            first_staged.setdefault(e.app_id, i)
    check(first_running["/g/db"] < first_staged["/g/api"] and
          first_running["/g/api"] < first_staged["/g/web"],
          "tasks not in dependency order: running %r staged %r" % (first_running, first_staged))
    v1 = created["version"]

    # 2. POST of the existing group: 409.
    status, body = request(cluster, "POST", "/v2/groups", json.loads(product().to_json()))
    check(status == 409, "re-POST answered %d %r" % (status, body))

    # 3. PUT without web removes web.
    update = client.update_group("/g", MarathonGroup(apps=[app("/g/api", ["/g/db"]), app("/g/db")]),
                                 force=True)
    wait_for("deployment_success of the PUT", lambda: succeeded(stream, update["deploymentId"]), 60)
    check([a.id for a in client.get_group("/g").apps] and
          sorted(a.id for a in client.get_group("/g").apps) == ["/g/api", "/g/db"],
          "apps after PUT: %r" % [a.id for a in client.get_group("/g").apps])
    wait_for("web's tasks gone", lambda: not [t for t in client.list_tasks()
                                              if t.app_id == "/g/web"], 30)
    status, versions = request(cluster, "GET", "/v2/groups/g/versions")
    check(status == 200 and versions == [update["version"], v1], "versions: %r" % versions)

    # 4. A dry run of the rollback answers the steps and changes nothing.
    status, dry = request(cluster, "PUT", "/v2/groups/g?dryRun=true", {"version": v1})
    check(status == 200 and dry["steps"][0]["actions"][0] ==
          {"action": "StartApplication", "app": "/g/web"}, "dry run: %d %r" % (status, dry))
    check(request(cluster, "GET", "/v2/apps/g/web")[0] == 404, "dry run deployed web")
    check(request(cluster, "GET", "/v2/groups/g/versions")[1] == versions, "dry run stored a version")

    # 5. Rolling back to the first version brings web back.
    back = client.rollback_group("/g", v1, force=True)
    wait_for("deployment_success of the rollback", lambda: succeeded(stream, back["deploymentId"]),
             60)
    web = client.get_app("/g/web")
    check(web.dependencies == ["/g/api"] and web.tasks_running == 1,
          "web after rollback: deps %r running %r" % (web.dependencies, web.tasks_running))
    check(stream.error is None, "event_stream() raised %r" % stream.error)

    # 6. A master restart keeps the group, its apps and its versions.
    status, versions = request(cluster, "GET", "/v2/groups/g/versions")
    restart_master(cluster)
    status, after = request(cluster, "GET", "/v2/groups/g/versions")
    check(status == 200 and after == versions, "versions after restart: %r vs %r" %
          (after, versions))
    group = client.get_group("/g")
    check(sorted(a.id for a in group.apps) == ["/g/api", "/g/db", "/g/web"],
          "group after restart: %r" % [a.id for a in group.apps])
    status, old = request(cluster, "GET", "/v2/groups/g/versions/" + v1)
    check(status == 200 and len(old["apps"]) == 3, "version %s after restart: %r" % (v1, old))

    # 7. scale_group and list_groups, as python3-marathon sends them.
    scaled = client.scale_group("/g", 2)
    check("deploymentId" in scaled, "scale_group returned %r" % scaled)
    wait_for("the group scale deployed", lambda: not client.list_deployments(), 60)
    check([client.get_app(a).instances for a in ("/g/db", "/g/api", "/g/web")] == [2, 2, 2],
          "instances after scale_group(2): %r" %
          [client.get_app(a).instances for a in ("/g/db", "/g/api", "/g/web")])
    check("/g" in [g.id for g in client.list_groups()],
          "list_groups: %r" % [g.id for g in client.list_groups()])

    client.delete_group("/g", force=True)
    wait_for("group deleted", lambda: request(cluster, "GET", "/v2/groups/g")[0] == 404, 30)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s /path/to/corral\n" % sys.argv[0])
        return 2
    return pmt.drive(pmt.Cluster(os.path.abspath(sys.argv[1])), run, "python3-marathon deployed, changed, rolled back and recovered a group")


if __name__ == "__main__":
    sys.exit(main())
