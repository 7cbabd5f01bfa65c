#include "core_cluster/master/records.h"

#include <nlohmann/json.hpp>

namespace corral::master {

std::string_view toString(AgentStatus s) {
  switch (s) {
    case AgentStatus::kActive:
      return "ACTIVE";
    case AgentStatus::kUnreachable:
      return "UNREACHABLE";
    case AgentStatus::kRecovering:
      return "RECOVERING";
  }
  return "UNKNOWN";
}

Json agentToJson(const AgentRecord& a) {
  Json j;
  j["id"] = a.id;
  j["hostname"] = a.hostname;
  j["port"] = a.port;
  j["resources"] = a.total.toString();
  j["attributes"] = conf::attributesToString(a.attributes);
  j["registeredAtMs"] = a.registeredAtMs;
  return j;
}

Result<AgentRecord> agentFromJson(const Json& j) {
  try {
    AgentRecord a;
    a.id = j.at("id").get<std::string>();
    a.hostname = j.at("hostname").get<std::string>();
    a.port = j.value("port", 5051);
    auto res = conf::parseResources(j.value("resources", ""));
    if (!res.ok()) return res.error();
    a.total = *res;
    auto attrs = conf::parseAttributes(j.value("attributes", ""));
    if (!attrs.ok()) return attrs.error();
    a.attributes = *attrs;
    a.registeredAtMs = j.value("registeredAtMs", int64_t{0});
    return a;
  } catch (const std::exception& e) {
    return makeError(ErrorKind::kInvalid, std::string("bad agent record: ") + e.what());
  }
}

Json taskToJson(const TaskRecord& t) {
  Json j;
  j["id"] = t.id;
  j["framework"] = t.framework;
  j["appId"] = t.appId;
  j["version"] = t.version;
  j["agentId"] = t.agentId;
  j["host"] = t.host;
  j["ports"] = t.ports;
  j["servicePorts"] = t.servicePorts;
  j["cpus"] = t.cpus;
  j["mem"] = t.mem;
  j["disk"] = t.disk;
  j["state"] = std::string(conf::toString(t.state));
  j["message"] = t.message;
  if (t.reason != conf::TaskReason::kNone) j["reason"] = std::string(conf::toString(t.reason));
  if (t.healthy) j["healthy"] = *t.healthy;
  j["consecutiveFailures"] = t.consecutiveFailures;
  j["lastFailureCause"] = t.lastFailureCause;
  j["stagedAtMs"] = t.stagedAtMs;
  j["startedAtMs"] = t.startedAtMs;
  j["lastSuccessMs"] = t.lastSuccessMs;
  j["lastFailureMs"] = t.lastFailureMs;
  j["firstSuccessMs"] = t.firstSuccessMs;
  j["killRequested"] = t.killRequested;
  j["launch"] = t.launch;
  return j;
}

Result<TaskRecord> taskFromJson(const Json& j) {
  try {
    TaskRecord t;
    t.id = j.at("id").get<std::string>();
    t.framework = j.value("framework", "");
    t.appId = j.value("appId", "");
    t.version = j.value("version", "");
    t.agentId = j.value("agentId", "");
    t.host = j.value("host", "");
    t.ports = j.value("ports", std::vector<int>{});
    t.servicePorts = j.value("servicePorts", std::vector<int>{});
    t.cpus = j.value("cpus", 0.0);
    t.mem = j.value("mem", 0.0);
    t.disk = j.value("disk", 0.0);
    std::string state = j.value("state", "TASK_STAGING");
    auto known = conf::taskStateFromString(state);
    if (!known) {
      return makeError(ErrorKind::kInvalid,
                       "bad task record " + t.id + ": unknown state '" + state + "'");
    }
    t.state = *known;
    t.message = j.value("message", "");
    t.reason = conf::parseTaskReason(j.value("reason", ""));
    if (j.contains("healthy") && j["healthy"].is_boolean()) t.healthy = j["healthy"].get<bool>();
    t.consecutiveFailures = j.value("consecutiveFailures", 0);
    t.lastFailureCause = j.value("lastFailureCause", "");
    t.stagedAtMs = j.value("stagedAtMs", int64_t{0});
    t.startedAtMs = j.value("startedAtMs", int64_t{0});
    t.lastSuccessMs = j.value("lastSuccessMs", int64_t{0});
    t.lastFailureMs = j.value("lastFailureMs", int64_t{0});
    t.firstSuccessMs = j.value("firstSuccessMs", int64_t{0});
    t.killRequested = j.value("killRequested", false);
    if (j.contains("launch")) t.launch = j["launch"];
    return t;
  } catch (const std::exception& e) {
    return makeError(ErrorKind::kInvalid, std::string("bad task record: ") + e.what());
  }
}

}  // namespace corral::master
