#include "core_cluster/api/marathon_events.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string_view>

#include "core_cluster/api/marathon_json.h"

namespace corral::api {

namespace {

using conf::TaskState;

// Marathon's instance condition for a task state (instance_changed_event).
std::string_view instanceCondition(TaskState state) {
  switch (state) {
    case TaskState::kStaging:
      return "Staging";
    case TaskState::kStarting:
      return "Starting";
    case TaskState::kRunning:
      return "Running";
    case TaskState::kKilling:
      return "Killing";
    case TaskState::kFinished:
      return "Finished";
    case TaskState::kFailed:
      return "Failed";
    case TaskState::kKilled:
      return "Killed";
    case TaskState::kLost:
      return "Lost";
    case TaskState::kError:
      return "Error";
    case TaskState::kDropped:
      return "Dropped";
    case TaskState::kGone:
      return "Gone";
    case TaskState::kGoneByOperator:
      return "GoneByOperator";
    case TaskState::kUnreachable:
      return "Unreachable";
    case TaskState::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

}  // namespace

void publishTaskEvents(events::EventBus& bus, const master::TaskRecord& t, TaskState prevState,
                       std::optional<bool> prevHealthy, const conf::AppDefinition* def) {
  if (t.state != prevState) {
    Json ev;
    ev["slaveId"] = t.agentId;
    ev["taskId"] = t.id;
    ev["taskStatus"] = std::string(conf::toString(t.state));
    ev["message"] = t.message;
    ev["appId"] = t.appId;
    ev["host"] = t.host;
    ev["ipAddresses"] = Json::array({Json{{"ipAddress", t.host}, {"protocol", "IPv4"}}});
    ev["ports"] = t.ports;
    ev["version"] = t.version;
    bus.publish("status_update_event", ev);
    Json ic;
    ic["instanceId"] = t.id;
    ic["condition"] = std::string(instanceCondition(t.state));
    ic["runSpecId"] = t.appId;
    ic["agentId"] = t.agentId;
    ic["host"] = t.host;
    ic["runSpecVersion"] = t.version;
    bus.publish("instance_changed_event", ic);
  }
  if (t.healthy != prevHealthy && t.healthy.has_value()) {
    Json h;
    h["appId"] = t.appId;
    h["taskId"] = t.id;
    h["instanceId"] = t.id;
    h["version"] = t.version;
    h["alive"] = *t.healthy;
    bus.publish("health_status_changed_event", h);
    Json ih;
    ih["instanceId"] = t.id;
    ih["runSpecId"] = t.appId;
    ih["runSpecVersion"] = t.version;
    ih["healthy"] = *t.healthy;
    bus.publish("instance_health_changed_event", ih);
  }
  if (t.healthy.has_value() && !*t.healthy && t.state == TaskState::kRunning) {
    Json f;
    f["appId"] = t.appId;
    f["taskId"] = t.id;
    f["instanceId"] = t.id;
    f["version"] = t.version;
    Json hc = Json::object();
    if (def && !def->healthChecks.empty()) hc = conf::toMarathonJson(*def)["healthChecks"][0];
    f["healthCheck"] = hc;
    bus.publish("failed_health_check_event", f);
  }
}

Json unhealthyKillEvent(const master::TaskRecord& t) {
  Json ev;
  ev["appId"] = t.appId;
  ev["taskId"] = t.id;
  ev["instanceId"] = t.id;
  ev["version"] = t.version;
  ev["reason"] = t.message;
  ev["host"] = t.host;
  ev["slaveId"] = t.agentId;
  return ev;
}

Json taskFailureJson(const master::TaskRecord& t, const std::string& timestamp) {
  Json f;
  f["appId"] = t.appId;
  f["host"] = t.host;
  f["message"] = t.message;
  f["state"] = std::string(conf::toString(t.state));
  f["taskId"] = t.id;
  f["timestamp"] = timestamp;
  f["version"] = t.version;
  f["slaveId"] = t.agentId;
  return f;
}

Json deploymentStepEvent(const scheduler::Deployment& d) {
  Json plan = deploymentJson(d);
  Json ev;
  size_t step = std::min(d.currentStep, d.steps.empty() ? 0 : d.steps.size() - 1);
  ev["currentStep"] =
      plan["steps"].empty() ? Json{{"actions", Json::array()}} : plan["steps"][step];
  plan["original"] = d.original;
  plan["target"] = d.target;
  ev["plan"] = std::move(plan);
  return ev;
}

Json deploymentOutcomeEvent(const scheduler::Deployment& d) {
  Json plan = deploymentJson(d);
  plan["original"] = d.original;
  plan["target"] = d.target;
  Json ev;
  ev["id"] = d.id;
  ev["plan"] = std::move(plan);
  return ev;
}

}  // namespace corral::api
