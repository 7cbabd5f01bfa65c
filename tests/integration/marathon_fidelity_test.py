#!/usr/bin/python3
"""Marathon fidelity (issue 9) with Debian's python3-marathon client.

Usage: marathon_fidelity_test.py /path/to/corral

Starts a master and two agents (python_marathon_test's Cluster, on loopback
addresses of its own), then checks what broke real clients: event_stream()
parses every event of a deployment (Marathon's plan shape, no corral-only
event types on an unfiltered stream; those come to a stream that asks for
them), api_post_event names the caller, get_metrics() parses Marathon's JSON
while a scraper still gets Prometheus text, label selectors with in/notin/!=
and 422 for a malformed one, list_tasks and the text/plain task list,
/v2/info's served port, DELETE /v2/leader refused, unknown status 400.
Exits non-zero with a clear message on the first failure; always stops
every process it started.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_marathon_test as pmt  # noqa: E402

import marathon  # noqa: E402
from marathon.models import MarathonApp  # noqa: E402
from marathon.models.events import MarathonDeploymentInfo, MarathonDeploymentSuccess  # noqa: E402

# Addresses of this test's own, so it never meets python_marathon_test's cluster.
pmt.NET = "127.31.0."
pmt.MASTER_IP = pmt.NET + "1"
pmt.AGENT_IPS = [pmt.NET + "2", pmt.NET + "3"]

check = pmt.check
wait_for = pmt.wait_for


def request(cluster, method, path, accept="application/json", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(cluster.url + path, method=method, data=data,
                                 headers={"Accept": accept, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


StreamReader = pmt.StreamReader


def run(cluster):
    client = marathon.MarathonClient(cluster.url, timeout=10)
    stream_client = marathon.MarathonClient(cluster.url, timeout=120)
    parsed = StreamReader(stream_client)
    corral_only = StreamReader(stream_client, raw=True,
                               event_types=["launch_queue_waiting_event"])
    wait_for("both event streams attached",
             lambda: len(parsed.items) >= 1 and parsed.error is None, 10)

    app = MarathonApp(cmd="sleep 600", instances=2, cpus=0.1, mem=16,
                      port_definitions=[{"port": 0, "protocol": "tcp"}],
                      labels={"env": "stage", "tier": "back"})
    client.create_app("/probe/web", app)
    # The client drops empty lists, so an app without ports is posted as JSON.
    status, body = request(cluster, "POST", "/v2/apps", body={
        "id": "/worker", "cmd": "sleep 600", "instances": 1, "cpus": 0.1, "mem": 16,
        "portDefinitions": [], "labels": {"env": "dev"}})
    check(status == 201, "POST /worker answered %d %s" % (status, body))
    # Cannot be placed anywhere: corral says why with launch_queue_waiting_event.
    client.create_app("/huge", MarathonApp(cmd="sleep 600", instances=1, cpus=64, mem=16))

    wait_for("deployment_success of the placeable apps on the parsed stream",
             lambda: parsed.error is None and
             sum(isinstance(e, MarathonDeploymentSuccess) for e in parsed.items) >= 2, 30)
    wait_for("launch_queue_waiting_event on the stream that asked for it",
             lambda: any("launch_queue_waiting_event" in x for x in corral_only.items), 30)
    time.sleep(0.5)  # the unfiltered stream would have choked on it by now
    check(parsed.error is None, "event_stream() raised %r" % parsed.error)
    infos = [e for e in parsed.items if isinstance(e, MarathonDeploymentInfo)]
    check(infos, "no deployment_info parsed; types: %r" % parsed.types())
    check(infos[0].plan.steps and infos[0].plan.steps[0].actions,
          "deployment_info plan has no steps")
    check("launch_queue_waiting_event" not in parsed.types(),
          "corral-only event on an unfiltered stream")
    posts = [e for e in parsed.items if e.event_type == "api_post_event"]
    check(posts and all(p.client_ip == pmt.MASTER_IP or p.client_ip.startswith("127.")
                        for p in posts), "api_post_event clientIp: %r" %
          [getattr(p, "client_ip", None) for p in posts])

    # Metrics: Marathon's JSON for the client, Prometheus text for a scraper.
    m = client.get_metrics()
    for k in ("version", "gauges", "counters", "histograms", "meters", "timers"):
        check(k in m, "get_metrics() lacks %s: %r" % (k, list(m)))
    check(any(k.startswith("corral_api_requests_total") for k in m["counters"]),
          "no API counters in %r" % list(m["counters"])[:5])
    status, text = request(cluster, "GET", "/metrics", accept="text/plain;version=0.0.4")
    check(status == 200 and "# TYPE corral_api_requests_total counter" in text,
          "a scraper did not get Prometheus text: %d %r" % (status, text[:120]))

    # Label selectors as Marathon evaluates them.
    def ids(label):
        return sorted(a.id for a in client.list_apps(label=label))
    check(ids("env in (stage,production)") == ["/probe/web"], "in: %r" % ids("env in (stage,production)"))
    check(ids("env notin (stage)") == ["/worker"], "notin: %r" % ids("env notin (stage)"))
    check(ids("tier!=front") == ["/probe/web"], "!=: %r" % ids("tier!=front"))
    status, body = request(cluster, "GET", "/v2/apps?label=env%3Dstage")
    check(status == 422, "malformed selector answered %d %s" % (status, body))

    # Tasks: the client's list and Marathon's text form.
    wait_for("3 running tasks", lambda: len([t for t in client.list_tasks()
                                              if t.state == "TASK_RUNNING"]) == 3, 30)
    check(len(client.list_tasks(app_id="/probe/web")) == 2, "list_tasks(app_id)")
    status, text = request(cluster, "GET", "/v2/tasks", accept="text/plain")
    lines = text.splitlines()
    check(status == 200 and any(l.startswith("probe_web\t") and l.count(":") == 2 for l in lines),
          "text tasks: %r" % text)
    check(any(l.startswith("worker\t \t127.31.0.") for l in lines), "portless app: %r" % text)
    status, text = request(cluster, "GET", "/v2/apps/probe/web/tasks", accept="text/plain")
    check(status == 200 and text.startswith("probe_web\t"), "app text tasks: %r" % text)

    # Smaller semantics.
    info = client.get_info()
    check(info.http_config.http_port == cluster.master_port,
          "info http_port %r, serving on %d" % (info.http_config.http_port, cluster.master_port))
    check(isinstance(info.marathon_config.features, list), "info features")
    try:
        client.delete_leader()
        raise pmt.TestFailure("DELETE /v2/leader claimed to abdicate")
    except marathon.exceptions.MarathonHttpError as e:
        check(e.status_code == 409, "DELETE /v2/leader answered %d" % e.status_code)
    status, _ = request(cluster, "GET", "/v2/tasks?status=bogus")
    check(status == 400, "unknown status answered %d" % status)
    status, _ = request(cluster, "DELETE", "/v2/queue/worker/delay")
    check(status == 404, "delay reset with nothing queued answered %d" % status)
    status, _ = request(cluster, "DELETE", "/v2/apps/probe/web/tasks?scale=true&wipe=true")
    check(status == 400, "scale+wipe answered %d" % status)

    for app_id in ("/probe/web", "/worker", "/huge"):
        client.delete_app(app_id, force=True)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s /path/to/corral\n" % sys.argv[0])
        return 2
    return pmt.drive(pmt.Cluster(os.path.abspath(sys.argv[1])), run, "python3-marathon saw Marathon's events, metrics and task lists")


if __name__ == "__main__":
    sys.exit(main())
