#include "core_cluster/scheduler/deployment_store.h"

#include <nlohmann/json.hpp>

#include "core_cluster/scheduler/ids.h"

namespace corral::scheduler {

namespace {

std::string deploymentKey(const std::string& id) { return "/deployments/" + id; }

Json toJson(const Deployment& d) {
  Json steps = Json::array();
  for (const auto& step : d.steps) {
    Json actions = Json::array();
    for (const auto& a : step) actions.push_back(Json{{"action", a.action}, {"app", a.appId}});
    steps.push_back(actions);
  }
  Json j;
  j["id"] = d.id;
  j["version"] = d.version;
  j["steps"] = steps;
  j["currentStep"] = d.currentStep;
  j["original"] = d.original;
  j["target"] = d.target;
  j["startedMs"] = d.startedMs;
  return j;
}

}  // namespace

bool DeploymentStore::recoverEntry(const std::string& key, const Json& value) {
  if (key.rfind("/deployments/", 0) != 0) return false;
  if (!value.is_object()) return true;  // unreadable: nothing left to finish
  Deployment d;
  d.id = value.value("id", "");
  d.version = value.value("version", "");
  d.startedMs = value.value("startedMs", int64_t{0});
  d.currentStep = value.value("currentStep", size_t{0});
  if (value.contains("steps") && value["steps"].is_array()) {
    for (const auto& step : value["steps"]) {
      std::vector<DeploymentAction> actions;
      if (step.is_array()) {
        for (const auto& a : step) actions.push_back({a.value("action", ""), a.value("app", "")});
      }
      d.steps.push_back(std::move(actions));
    }
  } else if (value.contains("appId")) {
    // Written before deployments had steps: one action on one app.
    d.steps.push_back({{value.value("action", ""), value.value("appId", "")}});
  }
  if (value.contains("original")) d.original = value["original"];
  if (value.contains("target")) d.target = value["target"];
  if (d.currentStep >= d.steps.size()) return true;  // finished: nothing left to do
  put(d);
  return true;
}

const Deployment* DeploymentStore::find(const std::string& id) const {
  auto it = deployments_.find(id);
  return it == deployments_.end() ? nullptr : &it->second;
}

const Deployment* DeploymentStore::ofApp(const std::string& appId) const {
  auto byApp = byApp_.find(appId);
  if (byApp == byApp_.end()) return nullptr;
  return find(byApp->second);
}

bool DeploymentStore::held(const std::string& appId) const {
  const Deployment* d = ofApp(appId);
  if (!d) return false;
  for (size_t i = 0; i < d->steps.size(); ++i) {
    for (const auto& a : d->steps[i]) {
      if (a.appId == appId) return i > d->currentStep;
    }
  }
  return false;
}

DeploymentPlan DeploymentStore::plan(const std::string& appId, const std::string& action,
                                     const std::string& version, int64_t nowMs) const {
  Deployment d;
  d.version = version;
  d.steps = {{{action, appId}}};
  d.startedMs = nowMs;
  return plan(std::move(d));
}

DeploymentPlan DeploymentStore::plan(Deployment d) const {
  DeploymentPlan plan;
  // One deployment per app: a forced change supersedes the running ones.
  for (const auto& appId : d.appIds()) {
    const Deployment* running = ofApp(appId);
    if (!running) continue;
    bool seen = false;
    for (const auto& s : plan.superseded) seen |= s == running->id;
    if (seen) continue;
    plan.superseded.push_back(running->id);
    plan.mutations.push_back(doneMutation(running->id));
  }
  if (d.id.empty()) d.id = uuid4();
  plan.mutations.push_back(state::Mutation::put(deploymentKey(d.id), toJson(d)));
  plan.deployment = std::move(d);
  return plan;
}

state::Mutation DeploymentStore::doneMutation(const std::string& id) {
  return state::Mutation::del(deploymentKey(id));
}

state::Mutation DeploymentStore::stepMutation(const Deployment& d, size_t next) {
  Deployment moved = d;
  moved.currentStep = next;
  return state::Mutation::put(deploymentKey(d.id), toJson(moved));
}

void DeploymentStore::start(const DeploymentPlan& plan) {
  for (const auto& id : plan.superseded) erase(id);
  put(plan.deployment);
}

void DeploymentStore::advance(const std::string& id, size_t next) {
  auto it = deployments_.find(id);
  if (it != deployments_.end()) it->second.currentStep = next;
}

void DeploymentStore::put(const Deployment& d) {
  // One deployment per app: the index points at the newest.
  deployments_[d.id] = d;
  for (const auto& appId : d.appIds()) byApp_[appId] = d.id;
}

void DeploymentStore::erase(const std::string& id) {
  auto it = deployments_.find(id);
  if (it == deployments_.end()) return;
  for (const auto& appId : it->second.appIds()) {
    auto byApp = byApp_.find(appId);
    if (byApp != byApp_.end() && byApp->second == id) byApp_.erase(byApp);
  }
  deployments_.erase(it);
}

}  // namespace corral::scheduler
