"""Marathon's REST API v2 answer types, written down from its RAML type
library (docs/docs/rest-api/public/api/v2/types/*.raml) and its examples.

A schema is a dict of field name -> type; a name ending in "?" is optional
(the RAML's `name?:`). Types: "string", "int", "number", "bool", "datetime"
(an ISO-8601 string), "object" (any JSON object), "any", [T] (an array of
T), {"map": T} (an object whose values are T) or a nested schema dict.
A field that is present must have its type: null is never a string, which
is how Marathon's schema leaves unset fields out. Fields the schema does
not name are allowed (Marathon's clients ignore them).
"""
import re

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")

ERROR = {"message": "string", "details?": [{"path?": "string", "errors?": ["string"]}]}

DEPLOYMENT_RESULT = {"deploymentId": "string", "version": "datetime"}

HEALTH_CHECK = {"protocol?": "string", "path?": "string", "portIndex?": "int", "port?": "int",
                "command?": {"value": "string"}, "gracePeriodSeconds?": "int",
                "intervalSeconds?": "int", "timeoutSeconds?": "int",
                "maxConsecutiveFailures?": "int", "delaySeconds?": "int",
                "ignoreHttp1xx?": "bool", "ipProtocol?": "string"}

HEALTH = {"alive": "bool", "consecutiveFailures": "int", "instanceId": "string",
          "firstSuccess?": "datetime", "lastFailure?": "datetime", "lastSuccess?": "datetime",
          "lastFailureCause?": "string", "taskId?": "string"}

TASK = {"appId": "string", "host": "string", "id": "string", "state": "string", "role": "string",
        "healthCheckResults?": [HEALTH], "ipAddresses?": [{"ipAddress": "string",
                                                          "protocol": "string"}],
        "ports?": ["int"], "servicePorts?": ["int"], "slaveId?": "string",
        "stagedAt?": "datetime", "startedAt?": "datetime", "version?": "datetime",
        "localVolumes?": ["object"]}

TASK_LIST = {"tasks": [TASK]}
TASK_SINGLE = {"task": TASK}

TASK_FAILURE = {"appId": "string", "host": "string", "message": "string", "state": "string",
                "taskId": "string", "timestamp": "datetime", "version?": "datetime"}

PORT_DEFINITION = {"port": "int", "protocol?": "string", "name?": "string",
                   "labels?": {"map": "string"}}

APP = {
    "id": "string", "cmd?": "string", "args?": ["string"], "user?": "string",
    "env?": {"map": "any"}, "instances?": "int", "cpus?": "number", "mem?": "number",
    "disk?": "number", "gpus?": "int", "executor?": "string", "constraints?": [["string"]],
    "fetch?": [{"uri": "string", "extract?": "bool", "executable?": "bool", "cache?": "bool",
                "destPath?": "string"}],
    "storeUrls?": ["string"], "backoffSeconds?": "int", "backoffFactor?": "number",
    "maxLaunchDelaySeconds?": "int", "container?": "object", "healthChecks?": [HEALTH_CHECK],
    "readinessChecks?": ["object"], "dependencies?": ["string"],
    "upgradeStrategy?": {"minimumHealthCapacity": "number", "maximumOverCapacity": "number"},
    "labels?": {"map": "string"}, "acceptedResourceRoles?": ["string"], "version?": "datetime",
    "residency?": {"relaunchEscalationTimeoutSeconds": "int", "taskLostBehavior": "string"},
    "secrets?": "object", "taskKillGracePeriodSeconds?": "int", "killSelection?": "string",
    "portDefinitions?": [PORT_DEFINITION], "requirePorts?": "bool",
    "networks?": [{"mode?": "string", "name?": "string"}], "role?": "string",
    # AppInfo: what GET adds to the definition.
    "versionInfo?": {"lastScalingAt": "datetime", "lastConfigChangeAt": "datetime"},
    "tasksStaged?": "int", "tasksRunning?": "int", "tasksHealthy?": "int",
    "tasksUnhealthy?": "int", "deployments?": [{"id": "string"}], "tasks?": [TASK],
    "lastTaskFailure?": TASK_FAILURE,
}

APP_SINGLE = {"app": APP}
APP_LIST = {"apps": [APP]}
VERSION_LIST = {"versions": ["datetime"]}

DEPLOYMENT_ACTION = {"action": "string", "app?": "string", "pod?": "string"}
DEPLOYMENT = {"id": "string", "version": "datetime", "affectedApps": ["string"],
              "affectedPods?": ["string"], "steps": [{"actions": [DEPLOYMENT_ACTION]}],
              "currentActions": [{"action": "string", "app?": "string",
                                  "readinessCheckResults?": ["object"]}],
              "currentStep": "int", "totalSteps": "int"}

# Marathon's RAML requires `role` here, but python3-marathon's MarathonQueueItem
# raises on it (an unknown keyword): corral leaves it out, so it is optional.
QUEUE_ITEM = {"count": "int", "role?": "string",
              "delay": {"timeLeftSeconds": "number", "overdue": "bool"}, "since": "datetime",
              "processedOffersSummary": {"processedOffersCount": "int",
                                         "unusedOffersCount": "int"},
              "lastUnusedOffers?": ["object"], "app": APP}
QUEUE = {"queue": [QUEUE_ITEM]}

GROUP = {"id": "string", "apps?": [APP], "groups?": ["object"], "pods?": ["object"],
         "dependencies?": ["string"], "version?": "datetime"}

INFO = {
    "name": "string", "version": "string", "buildref": "string", "elected": "bool",
    "leader?": "string", "frameworkId?": "string",
    "marathon_config": {"features": ["string"], "task_lost_expunge_initial_delay": "int",
                        "task_lost_expunge_interval": "int", "master?": "string",
                        "framework_name?": "string", "local_port_min?": "int",
                        "local_port_max?": "int", "mesos_role?": "string",
                        "checkpoint?": "bool", "task_launch_timeout?": "int"},
    "zookeeper_config": {"zk": "string", "zk_connection_timeout": "int", "zk_max_versions": "int",
                         "zk_session_timeout": "int", "zk_timeout": "int"},
    "http_config": {"http_port": "int", "https_port": "int"},
}

LEADER = {"leader": "string"}

# Dropwizard's JSON (Marathon's /metrics for JSON clients).
METRICS = {"version": "string", "gauges": "object", "counters": "object",
           "histograms": "object", "meters": "object", "timers": "object"}

EVENT_SUBSCRIPTIONS = {"callbackUrls": ["string"]}


def _type_ok(value, t):
    if t == "any":
        return True
    if t == "string":
        return isinstance(value, str)
    if t == "datetime":
        return isinstance(value, str) and DATETIME.match(value) is not None
    if t == "bool":
        return isinstance(value, bool)
    if t == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "object":
        return isinstance(value, dict)
    raise ValueError("unknown schema type %r" % (t,))


def problems(value, schema, path="$"):
    """Every way `value` departs from `schema`, as "path: what" strings."""
    out = []
    if isinstance(schema, list):
        if not isinstance(value, list):
            return ["%s: expected an array, got %r" % (path, value)]
        for i, item in enumerate(value):
            out += problems(item, schema[0], "%s[%d]" % (path, i))
        return out
    if isinstance(schema, dict) and set(schema) == {"map"}:
        if not isinstance(value, dict):
            return ["%s: expected an object, got %r" % (path, value)]
        for k, v in value.items():
            out += problems(v, schema["map"], "%s.%s" % (path, k))
        return out
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return ["%s: expected an object, got %r" % (path, value)]
        for key, t in schema.items():
            name = key.rstrip("?")
            if name not in value:
                if not key.endswith("?"):
                    out.append("%s: required field %s is missing" % (path, name))
                continue
            out += problems(value[name], t, "%s.%s" % (path, name))
        return out
    if not _type_ok(value, schema):
        return ["%s: expected %s, got %r" % (path, schema, value)]
    return out
