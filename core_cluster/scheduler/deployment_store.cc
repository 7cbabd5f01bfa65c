#include "core_cluster/scheduler/deployment_store.h"

#include <nlohmann/json.hpp>

#include "core_cluster/scheduler/ids.h"

namespace corral::scheduler {

namespace {

std::string deploymentKey(const std::string& id) { return "/deployments/" + id; }

}  // namespace

bool DeploymentStore::recoverEntry(const std::string& key, const Json& value) {
  if (key.rfind("/deployments/", 0) != 0) return false;
  if (!value.is_object()) return true;  // unreadable: nothing left to finish
  Deployment d;
  d.id = value.value("id", "");
  d.version = value.value("version", "");
  d.appId = value.value("appId", "");
  d.action = value.value("action", "");
  d.startedMs = value.value("startedMs", int64_t{0});
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

DeploymentPlan DeploymentStore::plan(const std::string& appId, const std::string& action,
                                     const std::string& version, int64_t nowMs) const {
  DeploymentPlan plan;
  // One deployment per app: a forced change supersedes the running one.
  if (const Deployment* running = ofApp(appId)) {
    plan.superseded.push_back(running->id);
    plan.mutations.push_back(doneMutation(running->id));
  }
  Deployment& d = plan.deployment;
  d = Deployment{uuid4(), version, appId, action, nowMs};
  Json j;
  j["id"] = d.id;
  j["version"] = d.version;
  j["appId"] = d.appId;
  j["action"] = d.action;
  j["startedMs"] = d.startedMs;
  plan.mutations.push_back(state::Mutation::put(deploymentKey(d.id), j));
  return plan;
}

state::Mutation DeploymentStore::doneMutation(const std::string& id) {
  return state::Mutation::del(deploymentKey(id));
}

void DeploymentStore::start(const DeploymentPlan& plan) {
  for (const auto& id : plan.superseded) erase(id);
  put(plan.deployment);
}

void DeploymentStore::put(const Deployment& d) {
  // One deployment per app: the index points at the newest.
  deployments_[d.id] = d;
  byApp_[d.appId] = d.id;
}

void DeploymentStore::erase(const std::string& id) {
  auto it = deployments_.find(id);
  if (it == deployments_.end()) return;
  auto byApp = byApp_.find(it->second.appId);
  if (byApp != byApp_.end() && byApp->second == id) byApp_.erase(byApp);
  deployments_.erase(it);
}

}  // namespace corral::scheduler
