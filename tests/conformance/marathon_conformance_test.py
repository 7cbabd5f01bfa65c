#!/usr/bin/python3
"""Marathon API conformance: every endpoint and query parameter the README's
"Supported API" section claims, against a real `corral up`.

Usage: marathon_conformance_test.py /path/to/corral

Starts `corral up --no-dns --no-proxy` on free ports in a temporary work dir
and calls the API with the generated admin credentials, as a Marathon client
would. Each case compares the status code, the Content-Type and the answer's
field names and types with Marathon's documented types (marathon_schemas.py,
written from Marathon's RAML types and examples). Refusals on purpose
(Docker, pods, secrets, IP-per-task ...) must be the documented 4xx with a
message naming the field. Every mismatch is collected; the test fails with
the whole list. Always stops `corral up`.
"""
import base64
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import marathon_schemas as S  # noqa: E402
from up_test_util import Up, free_port, wait  # noqa: E402

JSON = "application/json"
TEXT = "text/plain"


class Api:
    def __init__(self, base, user, password):
        self.base = base
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.failures = []
        self.cases = 0

    def raw(self, method, path, body=None, accept=JSON, headers=None):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h = {"Accept": accept, "Authorization": self.auth}
        if data is not None:
            h["Content-Type"] = JSON
        h.update(headers or {})
        req = urllib.request.Request(self.base + path, method=method, data=data, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def case(self, what, method, path, status, schema=None, body=None, accept=JSON,
             ctype=JSON, message=None, headers=None):
        """One call compared with what Marathon answers; returns the parsed body."""
        self.cases += 1
        code, hdrs, text = self.raw(method, path, body, accept, headers)
        label = "%s: %s %s" % (what, method, path)
        if code != status:
            self.failures.append("%s: status %d, want %d (%s)" % (label, code, status, text[:300]))
            return None
        got_ctype = hdrs.get("Content-Type", "")
        if ctype and not got_ctype.startswith(ctype):
            self.failures.append("%s: Content-Type %r, want %s" % (label, got_ctype, ctype))
        if ctype != JSON:
            return text
        try:
            value = json.loads(text) if text else None
        except ValueError:
            self.failures.append("%s: not JSON: %r" % (label, text[:200]))
            return None
        if schema is not None:
            for p in S.problems(value, schema):
                self.failures.append("%s: %s" % (label, p))
        if message is not None and message not in json.dumps(value):
            self.failures.append("%s: answer lacks %r: %s" % (label, message, text[:300]))
        return value

    def check(self, cond, what):
        self.cases += 1
        if not cond:
            self.failures.append(what)


def q(**params):
    return "?" + urllib.parse.urlencode(params)


def wait_no_deployments(api, timeout=40):
    wait(lambda: api.raw("GET", "/v2/deployments")[2].strip() == "[]", timeout,
         "no deployment in progress")


def running(api, app_id, n):
    def ok():
        status, _, text = api.raw("GET", "/v2/apps%s/tasks" % app_id)
        tasks = json.loads(text)["tasks"] if status == 200 else []
        return len([t for t in tasks if t["state"] == "TASK_RUNNING"]) == n and tasks
    return wait(ok, 40, "%d running tasks of %s" % (n, app_id))


def apps_cases(api, corral):
    demo = "exec %s demo-server" % corral
    web = {"id": "/conf/web", "cmd": demo, "instances": 2, "cpus": 0.05, "mem": 16,
           "portDefinitions": [{"port": 0, "protocol": "tcp", "name": "http"}],
           "healthChecks": [{"protocol": "HTTP", "path": "/health", "portIndex": 0,
                             "gracePeriodSeconds": 30, "intervalSeconds": 1,
                             "timeoutSeconds": 1, "maxConsecutiveFailures": 3}],
           "labels": {"env": "stage", "tier": "back"}, "env": {"GREETING": "hi"},
           "role": "*"}
    created = api.raw("POST", "/v2/apps", web)
    api.check(created[0] == 201, "POST /v2/apps: %d %s" % (created[0], created[2][:200]))
    api.check(created[1].get("Location", "").endswith("/v2/apps/conf/web"),
              "POST /v2/apps Location: %r" % created[1].get("Location"))
    api.check(created[1].get("Marathon-Deployment-Id"), "POST /v2/apps: no Marathon-Deployment-Id")
    for p in S.problems(json.loads(created[2]), S.APP):
        api.failures.append("POST /v2/apps answer: " + p)
    api.case("duplicate id", "POST", "/v2/apps", 409, S.ERROR, body=web,
             message="already exists")
    api.case("invalid app", "POST", "/v2/apps", 422, S.ERROR,
             body={"id": "/conf/bad", "cmd": "x", "instances": -1}, message="/instances")
    api.case("not JSON", "POST", "/v2/apps", 400, S.ERROR, body=b"{nope")
    worker = {"id": "/conf/worker", "cmd": "sleep 600", "instances": 1, "cpus": 0.05, "mem": 16,
              "portDefinitions": [], "labels": {"env": "dev"}}
    api.case("portless app", "POST", "/v2/apps", 201, S.APP, body=worker)
    running(api, "/conf/web", 2)
    running(api, "/conf/worker", 1)
    wait_no_deployments(api)

    # GET /v2/apps and its query parameters.
    lst = api.case("list", "GET", "/v2/apps", 200, S.APP_LIST)
    api.check(lst and sorted(a["id"] for a in lst["apps"]) == ["/conf/web", "/conf/worker"],
              "GET /v2/apps ids: %r" % (lst and [a["id"] for a in lst["apps"]]))
    for embed in ("apps.tasks", "apps.counts", "apps.deployments", "apps.lastTaskFailure"):
        got = api.case("embed " + embed, "GET", "/v2/apps" + q(embed=embed), 200, S.APP_LIST)
        if embed == "apps.tasks" and got:
            api.check(all("tasks" in a for a in got["apps"]), "embed=apps.tasks: no tasks")

    def ids(query):
        got = api.case("filter " + query, "GET", "/v2/apps?" + query, 200, S.APP_LIST)
        return sorted(a["id"] for a in got["apps"]) if got else None
    api.check(ids("id=wor") == ["/conf/worker"], "id filter")
    api.check(ids("cmd=sleep") == ["/conf/worker"], "cmd filter")
    api.check(ids(urllib.parse.urlencode({"label": "env==stage"})) == ["/conf/web"], "label ==")
    api.check(ids(urllib.parse.urlencode({"label": "env in (stage,prod)"})) == ["/conf/web"],
              "label in")
    api.check(ids(urllib.parse.urlencode({"label": "env notin (stage)"})) == ["/conf/worker"],
              "label notin")
    api.check(ids(urllib.parse.urlencode({"label": "tier!=front"})) == ["/conf/web"],
              "label != (apps without the label do not match)")
    api.check(ids(urllib.parse.urlencode({"label": "tier"})) == ["/conf/web"], "label exists")
    api.case("malformed selector", "GET", "/v2/apps?" + urllib.parse.urlencode(
        {"label": "env=stage"}), 422, S.ERROR)

    api.case("group", "GET", "/v2/groups/conf", 200, S.GROUP)

    # One app.
    one = api.case("get app", "GET", "/v2/apps/conf/web", 200, S.APP_SINGLE)
    api.check(one and one["app"]["role"] == "*", "role not stored")
    api.case("get app, double slash", "GET", "/v2/apps//conf/web", 200, S.APP_SINGLE)
    api.case("get app embed", "GET", "/v2/apps/conf/web" + q(embed="app.tasks"), 200,
             S.APP_SINGLE)
    api.case("missing app", "GET", "/v2/apps/conf/none", 404, S.ERROR,
             message="App '/conf/none' does not exist")
    v1 = one["app"]["version"] if one else ""

    # Tasks of an app, JSON and text.
    tasks = api.case("app tasks", "GET", "/v2/apps/conf/web/tasks", 200, S.TASK_LIST)
    text = api.case("app tasks as text", "GET", "/v2/apps/conf/web/tasks", 200, accept=TEXT,
                    ctype=TEXT)
    api.check(text and text.startswith("conf_web\t"), "text app tasks: %r" % text)
    text = api.case("all tasks as text", "GET", "/v2/tasks", 200, accept=TEXT, ctype=TEXT)
    api.check(text and any(line.startswith("conf_worker\t \t") for line in text.splitlines()),
              "portless app in text tasks: %r" % text)
    api.case("all tasks", "GET", "/v2/tasks", 200, S.TASK_LIST)
    for status in ("running", "staging", "TASK_RUNNING"):
        api.case("status " + status, "GET", "/v2/tasks" + q(status=status), 200, S.TASK_LIST)
    api.case("unknown status", "GET", "/v2/tasks" + q(status="bogus"), 400, S.ERROR)

    # Versions.
    api.case("versions", "GET", "/v2/apps/conf/web/versions", 200, S.VERSION_LIST)
    api.case("one version", "GET", "/v2/apps/conf/web/versions/" + v1, 200, S.APP)
    api.case("unknown version", "GET", "/v2/apps/conf/web/versions/2001-01-01T00:00:00.000Z",
             404, S.ERROR, message="does not exist in version")

    # Updates: partial, forced, complete replacement, PATCH, rollback.
    upd = api.case("partial update", "PUT", "/v2/apps/conf/web" + q(force="true"), 200,
                   S.DEPLOYMENT_RESULT, body={"labels": {"env": "stage", "tier": "back",
                                                         "new": "1"}})
    api.check(upd and api.raw("GET", "/v2/apps/conf/web")[2].count('"GREETING"') == 1,
              "a partial update kept env")
    wait_no_deployments(api)
    api.case("PATCH", "PATCH", "/v2/apps/conf/web", 200, S.DEPLOYMENT_RESULT,
             body={"labels": {"env": "stage", "tier": "back"}})
    api.case("PATCH of no app", "PATCH", "/v2/apps/conf/ghost", 404, S.ERROR,
             body={"cmd": "x"}, message="does not exist")
    wait_no_deployments(api)
    api.case("rollback", "PUT", "/v2/apps/conf/web" + q(force="true"), 200, S.DEPLOYMENT_RESULT,
             body={"version": v1})
    after = api.case("after rollback", "GET", "/v2/apps/conf/web", 200, S.APP_SINGLE)
    api.check(after and after["app"]["labels"] == web["labels"],
              "rollback restored labels %r" % (after and after["app"]["labels"]))
    api.case("rollback to an unknown version", "PUT", "/v2/apps/conf/web", 404, S.ERROR,
             body={"version": "2001-01-01T00:00:00.000Z"}, message="does not exist")
    api.case("version with other fields", "PUT", "/v2/apps/conf/web", 422, S.ERROR,
             body={"version": v1, "cmd": "x"}, message="may only be combined")
    wait_no_deployments(api)
    api.case("create by PUT", "PUT", "/v2/apps/conf/put", 201, S.DEPLOYMENT_RESULT,
             body={"cmd": "sleep 600", "cpus": 0.05, "mem": 16, "labels": {"a": "1"},
                   "env": {"A": "1"}, "portDefinitions": []})
    wait_no_deployments(api)
    api.case("complete replacement", "PUT", "/v2/apps/conf/put" + q(partialUpdate="false"), 200,
             S.DEPLOYMENT_RESULT, body={"cmd": "sleep 601", "cpus": 0.05, "mem": 16,
                                        "portDefinitions": []})
    put = api.case("after replacement", "GET", "/v2/apps/conf/put", 200, S.APP_SINGLE)
    api.check(put and put["app"]["labels"] == {} and put["app"]["env"] == {},
              "partialUpdate=false kept labels/env: %r" % (put and put["app"]))
    wait_no_deployments(api)
    api.case("restart", "POST", "/v2/apps/conf/put/restart" + q(force="true"), 200,
             S.DEPLOYMENT_RESULT)
    api.case("restart of no app", "POST", "/v2/apps/conf/ghost/restart", 404, S.ERROR)
    # A change while a deployment runs: 409 naming it, unless forced.
    # A version that cannot be placed keeps its deployment running.
    api.raw("PUT", "/v2/apps/conf/put?force=true", {"cpus": 512})
    api.case("locked by a deployment", "PUT", "/v2/apps/conf/put", 409, None,
             body={"instances": 1}, message="deployment")
    deps = api.case("deployments", "GET", "/v2/deployments", 200, [S.DEPLOYMENT])
    if deps:
        dep = [d for d in deps if "/conf/put" in d["affectedApps"]]
        api.check(dep, "no deployment of /conf/put in %r" % deps)
        if dep:
            api.case("cancel with rollback", "DELETE", "/v2/deployments/" + dep[0]["id"], 200,
                     S.DEPLOYMENT_RESULT)
    api.case("cancel unknown deployment", "DELETE", "/v2/deployments/nope", 404, S.ERROR)
    api.raw("PUT", "/v2/apps/conf/put?force=true", {"cpus": 512})
    deps = json.loads(api.raw("GET", "/v2/deployments")[2])
    for d in deps:
        if "/conf/put" in d["affectedApps"]:
            # Marathon answers a forced cancel 202 with no entity (no body, no type).
            text = api.case("cancel with force", "DELETE",
                            "/v2/deployments/%s?force=true" % d["id"], 202, None, ctype=None)
            api.check(text == "", "cancel with force: a body %r, want none" % text)
    api.case("delete app", "DELETE", "/v2/apps/conf/put" + q(force="true"), 200,
             S.DEPLOYMENT_RESULT)
    api.case("delete of no app", "DELETE", "/v2/apps/conf/ghost", 404, S.ERROR)

    # The queue: an app that cannot be placed waits there with the reason.
    api.case("unplaceable app", "POST", "/v2/apps", 201, S.APP,
             body={"id": "/conf/huge", "cmd": "sleep 1", "cpus": 512, "mem": 16})
    wait(lambda: '"/conf/huge"' in api.raw("GET", "/v2/queue")[2], 20, "/conf/huge queued")
    queue = api.case("queue", "GET", "/v2/queue", 200, S.QUEUE)
    api.check(queue and any(i["app"]["id"] == "/conf/huge" for i in queue["queue"]),
              "queue lacks /conf/huge: %r" % queue)
    api.case("delay reset", "DELETE", "/v2/queue/conf/huge/delay", 204, None, ctype=None)
    api.case("delay reset, nothing queued", "DELETE", "/v2/queue/conf/worker/delay", 404,
             S.ERROR)
    api.raw("DELETE", "/v2/apps/conf/huge?force=true")

    # Killing tasks.
    tasks = running(api, "/conf/web", 2)
    victim = tasks[0]
    api.case("kill one task", "DELETE", "/v2/apps/conf/web/tasks/" + victim["id"], 200,
             S.TASK_SINGLE)
    api.case("kill unknown task", "DELETE", "/v2/apps/conf/web/tasks/nope", 404, S.ERROR)
    api.case("scale and wipe", "DELETE", "/v2/apps/conf/web/tasks" + q(scale="true",
                                                                        wipe="true"), 400, S.ERROR)
    tasks = running(api, "/conf/web", 2)
    api.case("kill by host", "DELETE", "/v2/apps/conf/web/tasks" + q(host=tasks[0]["host"]),
             200, S.TASK_LIST)
    tasks = running(api, "/conf/web", 2)
    killed = api.case("tasks/delete", "POST", "/v2/tasks/delete", 200, S.TASK_LIST,
                      body={"ids": [tasks[0]["id"]]})
    api.check(killed and [t["id"] for t in killed["tasks"]] == [tasks[0]["id"]],
              "tasks/delete answered %r" % killed)
    api.case("tasks/delete scale+wipe", "POST", "/v2/tasks/delete" + q(scale="true", wipe="true"),
             400, S.ERROR, body={"ids": [tasks[1]["id"]]})
    api.case("tasks/delete bad body", "POST", "/v2/tasks/delete", 422, S.ERROR,
             body={"tasks": []})
    tasks = running(api, "/conf/web", 2)
    wait_no_deployments(api)
    api.case("tasks/delete scale", "POST", "/v2/tasks/delete" + q(scale="true"), 200,
             S.DEPLOYMENT_RESULT, body={"ids": [tasks[0]["id"]]})
    wait_no_deployments(api)
    api.case("kill with scale", "DELETE", "/v2/apps/conf/web/tasks" + q(scale="true"), 200,
             S.DEPLOYMENT_RESULT)


def refusal_cases(api):
    base = {"id": "/conf/refused", "cmd": "x", "cpus": 0.05, "mem": 16}
    for field, value, path in [
            ("container", {"type": "DOCKER", "docker": {"image": "nginx"}}, "/container/type"),
            ("container", {"type": "MESOS", "docker": {"image": "nginx"}},
             "/container/docker/image"),
            ("secrets", {"s": {"source": "db/pass"}}, "/secrets"),
            ("env", {"DB": {"secret": "s"}}, "/env/DB"),
            ("ipAddress", {"networkName": "dcos"}, "/ipAddress"),
            ("networks", [{"mode": "container", "name": "dcos"}], "/networks(0)/mode"),
            ("tty", True, "/tty"),
            ("role", "slave_public", "/role"),
            ("check", {"http": {"portIndex": 0, "path": "/"}}, "/check"),
            ("resourceLimits", {"cpus": "unlimited"}, "/resourceLimits")]:
        app = dict(base)
        app[field] = value
        got = api.case("refused " + field, "POST", "/v2/apps", 422, S.ERROR, body=app)
        paths = [d.get("path") for d in (got or {}).get("details", [])]
        api.check(not got or path in paths, "refused %s: details name %r, want %s" %
                  (field, paths, path))
    api.case("pods", "GET", "/v2/pods", 404, S.ERROR, message="pods are not supported")
    api.case("pod create", "POST", "/v2/pods", 404, S.ERROR, body={"id": "/p"},
             message="pods are not supported")
    api.case("event subscription", "POST", "/v2/eventSubscriptions" +
             q(callbackUrl="http://127.0.0.1:1/cb"), 404, S.ERROR, message="/v2/events")
    api.case("leader abdication", "DELETE", "/v2/leader", 409, S.ERROR)


def misc_cases(api, port):
    pong = api.case("ping", "GET", "/ping", 200, accept="*/*", ctype=TEXT)
    api.check(pong and pong.strip() == "pong", "ping answered %r" % pong)
    info = api.case("info", "GET", "/v2/info", 200, S.INFO)
    api.check(info and info["http_config"]["http_port"] == port,
              "info http_port %r, serving on %d" % (info and info["http_config"], port))
    api.case("leader", "GET", "/v2/leader", 200, S.LEADER)
    api.case("metrics JSON", "GET", "/metrics", 200, S.METRICS)
    prom = api.case("metrics for a scraper", "GET", "/metrics", 200, accept="text/plain;version=0.0.4",
                    ctype=TEXT)
    api.check(prom and "# TYPE " in prom, "no Prometheus text: %r" % (prom or "")[:100])
    api.case("metrics ?format=prometheus", "GET", "/metrics" + q(format="prometheus"), 200,
             ctype=TEXT)
    api.case("metrics scrape path", "GET", "/metrics/prometheus", 200, ctype=TEXT)
    api.case("event subscriptions", "GET", "/v2/eventSubscriptions", 200, S.EVENT_SUBSCRIPTIONS)
    api.case("groups", "GET", "/v2/groups", 200, S.GROUP)
    api.case("unknown group", "GET", "/v2/groups/nope", 404, S.ERROR)
    api.case("unknown path", "GET", "/v2/nope", 404, S.ERROR)
    api.case("agents", "GET", "/v1/agents", 200, {"agents": ["object"]})
    # The event stream: server-sent events when asked for them.
    req = urllib.request.Request(api.base + "/v2/events" + q(event_type="event_stream_attached"),
                                 headers={"Accept": "text/event-stream",
                                          "Authorization": api.auth})
    with urllib.request.urlopen(req, timeout=10) as r:
        api.check(r.status == 200 and
                  r.headers.get("Content-Type", "").startswith("text/event-stream"),
                  "GET /v2/events: %d %s" % (r.status, r.headers.get("Content-Type")))
        first = b""
        for _ in range(20):  # bounded: a heartbeat comment may come first
            first += r.read1(4096)
            if b"event_stream_attached" in first:
                break
        api.check(b"event: event_stream_attached" in first, "first events: %r" % first[:200])
    api.case("events without Accept", "GET", "/v2/events", 406, None, ctype=None)


def groups_cases(api):
    """Groups and one multi-app deployment, as Marathon's groups RAML has them."""
    def app(app_id, **extra):
        return dict({"id": app_id, "cmd": "sleep 600", "cpus": 0.01, "mem": 8}, **extra)

    group = {"id": "/cg", "apps": [app("/cg/db"), app("/cg/web", dependencies=["/cg/db"])]}
    api.case("create group", "POST", "/v2/groups", 201, S.DEPLOYMENT_RESULT, body=group)
    api.case("create an existing group", "POST", "/v2/groups", 409, S.ERROR, body=group)
    got = api.case("group by a client's //id", "GET", "/v2/groups//cg", 200, S.GROUP)
    api.check(got is not None and len(got.get("apps", [])) == 2, "group /cg apps: %r" % got)
    api.case("group with embeds", "GET",
             "/v2/groups/cg?embed=group.apps&embed=group.apps.tasks&embed=group.apps.counts",
             200, S.GROUP)
    wait_no_deployments(api)
    api.case("group versions", "GET", "/v2/groups/cg/versions", 200, ["datetime"])
    plan = api.case("group dry run", "PUT", "/v2/groups/cg" + q(dryRun="true"), 200,
                    {"steps": ["object"]}, body={"id": "/cg", "apps": [app("/cg/db")]})
    api.check(plan is not None and plan.get("steps"), "dry run plan: %r" % plan)
    got = api.case("group after the dry run", "GET", "/v2/groups/cg", 200, S.GROUP)
    api.check(got is not None and len(got.get("apps", [])) == 2,
              "a dry run changed the group: %r" % got)
    api.case("scale a group", "PUT", "/v2/groups/cg", 200, S.DEPLOYMENT_RESULT,
             body={"scaleBy": 2})
    wait_no_deployments(api)
    web = api.case("a scaled app", "GET", "/v2/apps/cg/web", 200, S.APP_SINGLE)
    api.check(web is not None and web["app"]["instances"] == 2, "scaleBy 2: %r" % web)
    api.case("a dependency cycle", "POST", "/v2/groups", 422, S.ERROR,
             body={"id": "/cyc", "apps": [app("/cyc/a", dependencies=["/cyc/b"]),
                                          app("/cyc/b", dependencies=["/cyc/a"])]})
    api.case("delete group", "DELETE", "/v2/groups/cg", 200, S.DEPLOYMENT_RESULT)
    wait_no_deployments(api)
    api.case("deleted group", "GET", "/v2/groups/cg", 404, S.ERROR)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s /path/to/corral\n" % sys.argv[0])
        return 2
    corral = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="corral-conformance-")
    port = free_port()
    up = Up(corral, work, ["--no-dns", "--no-proxy", "--agents", "2", "--master-port", str(port)])
    failed = True
    api = None
    try:
        up.wait_banner()
        admin = open(os.path.join(work, "credentials", "admin")).read().strip()
        user, password = admin.split(":", 1)
        api = Api("http://127.0.0.1:%d" % port, user, password)
        api.case("no credentials", "GET", "/v2/apps", 401, None, ctype=None,
                 headers={"Authorization": ""})
        misc_cases(api, port)
        refusal_cases(api)
        apps_cases(api, corral)
        groups_cases(api)
        if api.failures:
            sys.stderr.write("FAIL: %d of %d cases departed from Marathon's API:\n  %s\n" %
                             (len(api.failures), api.cases, "\n  ".join(api.failures)))
        else:
            failed = False
    except Exception as e:
        sys.stderr.write("FAIL: %s: %s\n" % (type(e).__name__, e))
        traceback.print_exc()
        if api and api.failures:
            sys.stderr.write("  and before that:\n  %s\n" % "\n  ".join(api.failures))
    finally:
        try:
            up.stop()
        finally:
            if failed:
                up.dump()
    if failed:
        sys.stderr.write("(work dir kept: %s)\n" % work)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("PASS: %d conformance cases against corral up" % api.cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
