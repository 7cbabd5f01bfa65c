#include "core_cluster/events/marathon_event_shape.h"

#include <nlohmann/json.hpp>

#include <array>
#include <set>

namespace corral::events {

namespace {

// Marathon's event bus documentation lists these; nothing else reaches a
// stream that does not ask for it by name.
constexpr std::array<std::string_view, 27> kMarathonTypes = {
    "api_post_event",
    "status_update_event",
    "framework_message_event",
    "subscribe_event",
    "unsubscribe_event",
    "event_stream_attached",
    "event_stream_detached",
    "add_health_check_event",
    "remove_health_check_event",
    "failed_health_check_event",
    "health_status_changed_event",
    "unhealthy_task_kill_event",
    "unhealthy_instance_kill_event",
    "group_change_success",
    "group_change_failed",
    "deployment_success",
    "deployment_failed",
    "deployment_info",
    "deployment_step_success",
    "deployment_step_failure",
    "app_terminated_event",
    "instance_changed_event",
    "unknown_instance_terminated_event",
    "instance_health_changed_event",
    "pod_created_event",
    "pod_updated_event",
    "pod_deleted_event",
};

// Events Marathon sends with the address of the API caller.
bool carriesClientIp(std::string_view type) {
  return type == "api_post_event" || type == "subscribe_event" || type == "unsubscribe_event" ||
         type == "pod_created_event" || type == "pod_updated_event" || type == "pod_deleted_event";
}

bool carriesPlan(std::string_view type) { return type.rfind("deployment_", 0) == 0; }

// A step as Marathon writes it: {"actions":[{"action":..., "app":...}]}.
Json marathonStep(const Json& step) {
  Json actions = Json::array();
  if (step.is_object() && step.contains("actions") && step["actions"].is_array()) {
    for (const auto& a : step["actions"]) {
      if (!a.is_object()) continue;
      Json out = Json::object();
      for (const char* key : {"action", "app", "pod"}) {
        if (a.contains(key) && a[key].is_string()) out[key] = a[key];
      }
      actions.push_back(out);
    }
  }
  return Json{{"actions", actions}};
}

// A root group as Marathon's plan carries it in `original` and `target`.
Json rootGroup(const std::set<std::string>& appIds, const Json& version) {
  Json apps = Json::array();
  for (const auto& id : appIds) apps.push_back(Json{{"id", id}});
  Json g;
  g["id"] = "/";
  g["apps"] = apps;
  g["groups"] = Json::array();
  g["pods"] = Json::array();
  g["dependencies"] = Json::array();
  g["version"] = version;
  return g;
}

Json marathonPlan(const Json& plan) {
  Json out = Json::object();
  Json version = plan.contains("version") ? plan["version"] : Json("");
  if (plan.contains("id")) out["id"] = plan["id"];
  out["version"] = version;
  Json steps = Json::array();
  // The apps before the deployment are those it does not start; after it,
  // those it does not stop.
  std::set<std::string> before, after;
  if (plan.contains("steps") && plan["steps"].is_array()) {
    for (const auto& s : plan["steps"]) {
      Json step = marathonStep(s);
      for (const auto& a : step["actions"]) {
        if (!a.contains("app")) continue;
        std::string app = a["app"].get<std::string>();
        std::string action = a.value("action", "");
        if (action != "StartApplication") before.insert(app);
        if (action != "StopApplication") after.insert(app);
      }
      steps.push_back(std::move(step));
    }
  }
  // A plan that brings its group trees keeps them; otherwise they are
  // derived from the steps.
  out["original"] = plan.contains("original") && plan["original"].is_object()
                        ? plan["original"]
                        : rootGroup(before, version);
  out["target"] = plan.contains("target") && plan["target"].is_object() ? plan["target"]
                                                                        : rootGroup(after, version);
  out["steps"] = std::move(steps);
  return out;
}

}  // namespace

bool isMarathonEventType(std::string_view type) {
  for (auto t : kMarathonTypes) {
    if (t == type) return true;
  }
  return false;
}

void toMarathonShape(std::string_view type, Json& data, const std::string& clientIp) {
  if (!data.is_object()) return;
  if (carriesClientIp(type) && !clientIp.empty() &&
      (!data.contains("clientIp") || !data["clientIp"].is_string() ||
       data["clientIp"].get<std::string>().empty())) {
    data["clientIp"] = clientIp;
  }
  if (!carriesPlan(type) || !data.contains("plan") || !data["plan"].is_object()) return;
  if ((type == "deployment_success" || type == "deployment_failed") && !data.contains("id") &&
      data["plan"].contains("id")) {
    data["id"] = data["plan"]["id"];
  }
  data["plan"] = marathonPlan(data["plan"]);
  if (data.contains("currentStep") && data["currentStep"].is_object()) {
    data["currentStep"] = marathonStep(data["currentStep"]);
  }
}

}  // namespace corral::events
