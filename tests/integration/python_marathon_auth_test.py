#!/usr/bin/python3
"""python3-marathon against a master that needs credentials (issue 10).

Usage: python_marathon_auth_test.py /path/to/corral

Starts a master with agent credentials (--credentials) and API users (an
admin and a viewer), and one agent with its --credential. Then, with
marathon.MarathonClient(url, username=..., password=...): the admin creates an
app and sees its task run, scales and deletes it; the viewer lists apps and
tasks but every change is refused (403); no or wrong credentials are refused
(401). Always stops every process it started.
"""

import os
import sys
import time

import marathon
from marathon.exceptions import MarathonHttpError
from marathon.models import MarathonApp

import python_marathon_test as base

NET = "127.31.0."
base.MASTER_IP = NET + "1"
base.AGENT_IPS = [NET + "2"]
check = base.check
wait_for = base.wait_for


def secret_file(directory, name, text):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class SecureCluster(base.Cluster):
    def start(self):
        accepted = secret_file(self.dir, "credentials", "agent-1 agent-secret\n")
        credential = secret_file(self.dir, "agent.credential", "agent-1 agent-secret\n")
        ip = base.AGENT_IPS[0]
        self.spawn("master", ["master", "--listen", "%s:%d" % (base.MASTER_IP, self.master_port),
                              "--work-dir", os.path.join(self.dir, "master"),
                              "--credentials", accepted,
                              "--http_credentials", "admin:admin-pw",
                              "--http_viewer_credentials", "watcher:watch-pw"])
        self.url = "http://%s:%d" % (base.MASTER_IP, self.master_port)
        wait_for("master /ping",
                 lambda: base.http_get(base.MASTER_IP, self.master_port, "/ping")[0] == 200, 15)
        port = base.free_port(ip)
        self.agent_ports[ip] = port
        self.spawn("agent 0", ["agent", "--ip", ip, "--port", str(port),
                               "--master", "%s:%d" % (base.MASTER_IP, self.master_port),
                               "--resources", "cpus:4;mem:4096;disk:1000;ports:[31000-31100]",
                               "--work-dir", os.path.join(self.dir, "agent0"),
                               "--credential", credential])


def refused(status, fn):
    try:
        fn()
    except MarathonHttpError as e:
        return e.status_code == status
    return False


def run(cluster):
    admin = marathon.MarathonClient(cluster.url, username="admin", password="admin-pw", timeout=10)
    viewer = marathon.MarathonClient(cluster.url, username="watcher", password="watch-pw",
                                     timeout=10)
    anonymous = marathon.MarathonClient(cluster.url, timeout=10)
    wrong = marathon.MarathonClient(cluster.url, username="admin", password="guess", timeout=10)

    check(refused(401, anonymous.list_apps), "an anonymous list_apps is refused with 401")
    check(refused(401, wrong.list_apps), "a wrong password is refused with 401")
    check(refused(401, lambda: anonymous.create_app("/anon", MarathonApp(cmd="sleep 300"))),
          "an anonymous create_app is refused with 401")
    check(refused(403, lambda: viewer.create_app("/viewed", MarathonApp(cmd="sleep 300"))),
          "a viewer's create_app is refused with 403")
    check(admin.list_apps() == [], "nothing was created by the refused calls")

    admin.create_app("/secure", MarathonApp(cmd="sleep 300", instances=1, cpus=0.1, mem=16))
    wait_for("the admin's app running",
             lambda: len(base.running_tasks(admin, "/secure")) == 1, 30)
    check([a.id for a in viewer.list_apps()] == ["/secure"], "the viewer lists the app")
    check(len(viewer.list_tasks(app_id="/secure")) == 1, "the viewer lists its task")
    check(refused(403, lambda: viewer.scale_app("/secure", instances=3)),
          "a viewer's scale_app is refused with 403")
    check(refused(403, lambda: viewer.delete_app("/secure", force=True)),
          "a viewer's delete_app is refused with 403")
    time.sleep(0.5)
    check(admin.get_app("/secure").instances == 1, "the viewer changed nothing")

    admin.scale_app("/secure", instances=2, force=True)
    wait_for("scaled to 2 by the admin",
             lambda: len(base.running_tasks(admin, "/secure")) == 2, 30)
    admin.delete_app("/secure", force=True)
    wait_for("the app deleted", lambda: admin.list_apps() == [], 30)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s /path/to/corral\n" % sys.argv[0])
        return 2
    return base.drive(SecureCluster(os.path.abspath(sys.argv[1])), run_when_active,
                      "python3-marathon with credentials")


def run_when_active(cluster):
    wait_for("the agent ACTIVE", lambda: len(marathon.MarathonClient(
        cluster.url, username="admin", password="admin-pw").list_apps()) == 0 and
        agent_active(cluster), 20)
    run(cluster)


def agent_active(cluster):
    import base64
    import json
    import urllib.request
    req = urllib.request.Request(cluster.url + "/v1/agents")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"watcher:watch-pw").decode())
    agents = json.loads(urllib.request.urlopen(req, timeout=3).read())["agents"]
    return any(a["status"] == "ACTIVE" for a in agents)


if __name__ == "__main__":
    sys.exit(main())
