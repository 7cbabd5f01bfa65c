// ServiceScheduler's API operations (create, update, restart, delete, kill,
// cancel, reset delay): an app change and the deployment it causes are one
// atomic commit; only after it succeeded do they take effect in memory, get
// announced, and the app is reconciled. Errors carry an ErrorKind.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "core_cluster/api/app_update_request.h"
#include "core_cluster/api/health_check_events.h"
#include "core_cluster/api/marathon_events.h"
#include "core_cluster/api/marathon_json.h"
#include "core_cluster/scheduler/service_scheduler.h"

namespace corral::scheduler {

using master::TaskRecord;

Status ServiceScheduler::commitWithDeployment(std::vector<state::Mutation> batch,
                                              const DeploymentPlan& plan) {
  batch.insert(batch.end(), plan.mutations.begin(), plan.mutations.end());
  Status st = store_.commit(batch);
  if (!st.ok()) countCommitFailure();
  return st;
}

std::string ServiceScheduler::startDeployment(const DeploymentPlan& plan) {
  deployments_.start(plan);
  const Deployment& d = plan.deployment;
  bus_.publish("deployment_info", api::deploymentStepEvent(d));
  log::info("deployment {} started: {} step(s) on {} app(s)", d.id, d.steps.size(),
            d.appIds().size());
  if (driver_) driver_->reviveOffers();
  return d.id;
}

Result<ChangeResult> ServiceScheduler::conflictCheck(const std::string& appId, bool force) {
  if (force) return ChangeResult{};
  if (const Deployment* d = deployments_.ofApp(appId)) {
    Error e = makeError(ErrorKind::kConflict,
                        "App is locked by one or more deployments. Override with the option "
                        "'?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.");
    e.path = d->id;  // the API layer lists the blocking deployment
    return e;
  }
  return ChangeResult{};
}

Result<ChangeResult> ServiceScheduler::createApp(const Json& body) {
  std::vector<Error> errors;
  auto def = conf::parseAppDefinition(body, "/", &errors);
  if (!def.ok()) {
    Error e = def.error();
    e.kind = ErrorKind::kInvalid;
    return e;
  }
  if (Status st = apps_.checkNewId(def->id); !st.ok()) return st.error();
  if (groups_.find(def->id)) {
    return makeError(ErrorKind::kConflict, "A group with id [" + def->id + "] already exists.");
  }
  auto withPorts = apps_.assignServicePorts(*def, "");
  if (!withPorts.ok()) return withPorts.error();
  AppState a;
  a.def = std::move(*withPorts);
  std::string v = apps_.newVersion();
  a.def.version = v;
  a.lastConfigChangeAt = v;
  a.lastScalingAt = v;
  a.versions.push_back(v);
  if (Status st = checkDependencies(a.def); !st.ok()) return st.error();
  DeploymentPlan plan = singleAppPlan("StartApplication", a.def.id, nullptr, &a.def, v);
  if (Status st = commitWithDeployment(apps_.putMutations(a, true), plan); !st.ok()) {
    return makeError(ErrorKind::kUnavailable, "cannot persist app: " + st.error().message);
  }
  std::string id = a.def.id;
  apps_.put(std::move(a));
  const AppState& created = *apps_.find(id);
  Json ev;
  ev["clientIp"] = "";
  ev["uri"] = "/v2/apps" + id;
  ev["appDefinition"] = api::appJson(created);
  bus_.publish("api_post_event", ev);
  api::publishHealthCheckChanges(bus_, nullptr, &created.def);
  ChangeResult r;
  r.version = v;
  r.deploymentId = startDeployment(plan);
  r.app = appJson(created, false, true, false);
  log::info("app {} created: {} instance(s)", id, created.def.instances);
  reconcileOne(id);
  return r;
}

Result<ChangeResult> ServiceScheduler::updateApp(const std::string& rawId, const Json& patch,
                                                 bool force) {
  auto idr = conf::resolveAppId(rawId);
  if (!idr.ok()) return makeError(ErrorKind::kInvalid, idr.error().message);
  std::string id = *idr;
  const AppState* existing = apps_.find(id);
  if (!existing) {
    // Marathon creates the app on PUT when it does not exist.
    Json body = patch;
    if (!body.is_object())
      return makeError(ErrorKind::kInvalid, "app definition must be a JSON object");
    body["id"] = id;
    return createApp(body);
  }
  if (auto c = conflictCheck(id, force); !c.ok()) return c.error();
  auto updated = conf::applyAppPatch(existing->def, patch);
  if (!updated.ok()) {
    Error e = updated.error();
    e.kind = ErrorKind::kInvalid;
    return e;
  }
  auto withPorts = apps_.assignServicePorts(*updated, id);
  if (!withPorts.ok()) return withPorts.error();
  conf::AppDefinition next = std::move(*withPorts);
  conf::AppDefinition cmpOld = existing->def, cmpNew = next;
  cmpOld.version.reset();
  cmpNew.version.reset();
  cmpOld.instances = cmpNew.instances = 0;
  bool configChanged = !(cmpOld == cmpNew);
  bool scaled = next.instances != existing->def.instances;
  std::string v = apps_.newVersion();
  next.version = v;
  AppState a = *existing;
  a.def = next;
  if (configChanged) a.lastConfigChangeAt = v;
  if (scaled || configChanged) a.lastScalingAt = v;
  a.versions.push_back(v);
  a.failuresInRow = 0;
  a.delayUntilMs = 0;
  if (Status st = checkDependencies(a.def); !st.ok()) return st.error();
  DeploymentPlan plan = singleAppPlan(configChanged ? "RestartApplication" : "ScaleApplication", id,
                                      &existing->def, &a.def, v);
  if (Status st = commitWithDeployment(apps_.putMutations(a, true), plan); !st.ok()) {
    return makeError(ErrorKind::kUnavailable, "cannot persist app: " + st.error().message);
  }
  conf::AppDefinition replaced = existing->def;
  apps_.put(std::move(a));
  Json ev;
  ev["clientIp"] = "";
  ev["uri"] = "/v2/apps" + id;
  ev["appDefinition"] = api::appJson(*apps_.find(id));
  bus_.publish("api_post_event", ev);
  api::publishHealthCheckChanges(bus_, &replaced, &apps_.find(id)->def);
  ChangeResult r;
  r.version = v;
  r.deploymentId = startDeployment(plan);
  log::info("app {} updated to version {} ({})", id, v,
            configChanged ? "rolling replacement" : "scale");
  reconcileOne(id);
  return r;
}

Result<ChangeResult> ServiceScheduler::restartApp(const std::string& rawId, bool force) {
  auto idr = conf::resolveAppId(rawId);
  if (!idr.ok()) return makeError(ErrorKind::kInvalid, idr.error().message);
  const AppState* existing = apps_.find(*idr);
  if (!existing) return makeError(ErrorKind::kNotFound, "App '" + *idr + "' does not exist");
  if (auto c = conflictCheck(*idr, force); !c.ok()) return c.error();
  AppState a = *existing;
  std::string v = apps_.newVersion();
  a.def.version = v;
  a.lastConfigChangeAt = v;
  a.versions.push_back(v);
  DeploymentPlan plan = singleAppPlan("RestartApplication", a.def.id, &existing->def, &a.def, v);
  if (Status st = commitWithDeployment(apps_.putMutations(a, true), plan); !st.ok()) {
    return makeError(ErrorKind::kUnavailable, "cannot persist app: " + st.error().message);
  }
  std::string id = a.def.id;
  conf::AppDefinition replaced = existing->def;
  apps_.put(std::move(a));
  api::publishHealthCheckChanges(bus_, &replaced, &apps_.find(id)->def);
  ChangeResult r;
  r.version = v;
  r.deploymentId = startDeployment(plan);
  log::info("app {} restart: rolling replacement to version {}", id, v);
  reconcileOne(id);
  return r;
}

Result<ChangeResult> ServiceScheduler::deleteApp(const std::string& rawId, bool force) {
  auto idr = conf::resolveAppId(rawId);
  if (!idr.ok()) return makeError(ErrorKind::kInvalid, idr.error().message);
  std::string id = *idr;
  if (!apps_.find(id)) return makeError(ErrorKind::kNotFound, "App '" + id + "' does not exist");
  if (auto c = conflictCheck(id, force); !c.ok()) return c.error();
  std::string v = apps_.newVersion();
  DeploymentPlan plan = singleAppPlan("StopApplication", id, &apps_.find(id)->def, nullptr, v);
  if (Status st = commitWithDeployment(apps_.deleteMutations(id), plan); !st.ok()) {
    return makeError(ErrorKind::kUnavailable, "cannot persist deletion: " + st.error().message);
  }
  conf::AppDefinition removed = apps_.find(id)->def;
  apps_.erase(id);
  api::publishHealthCheckChanges(bus_, &removed, nullptr);
  ChangeResult r;
  r.version = v;
  r.deploymentId = startDeployment(plan);
  for (const auto* t : tasksOf(id)) kill(t->id, nullptr);
  log::info("app {} deleted; stopping its tasks", id);
  reconcileOne(id);
  return r;
}

Result<ChangeResult> ServiceScheduler::killTasks(const std::vector<std::string>& taskIds,
                                                 bool scale, bool wipe) {
  std::map<std::string, int> perApp;
  for (const auto& tid : taskIds) {
    const TaskRecord* t = driver_ ? driver_->task(tid) : nullptr;
    if (!t || conf::isTerminal(t->state)) continue;
    perApp[t->appId]++;
  }
  ChangeResult r;
  r.version = apps_.newVersion();
  std::optional<Error> failed;
  std::set<std::string> scaled;
  if (scale) {
    for (const auto& [appId, n] : perApp) {
      const AppState* a = apps_.find(appId);
      if (!a) continue;
      Json patch;
      patch["instances"] = std::max(0, a->def.instances - n);
      // Scaling down by killing specific tasks: mark them first so the scale
      // step does not pick others.
      for (const auto& tid : taskIds) {
        const TaskRecord* t = driver_->task(tid);
        if (t && t->appId == appId) killing_.insert(tid);
      }
      auto u = updateApp(appId, patch, true);
      if (!u.ok()) {
        // Not scaled: its tasks stay (unmarked, or they would be replaced as if dying).
        for (const auto& tid : taskIds) {
          const TaskRecord* t = driver_->task(tid);
          if (t && t->appId == appId) killing_.erase(tid);
        }
        failed = u.error();
        break;
      }
      scaled.insert(appId);
      r.deploymentId = u->deploymentId;
      r.version = u->version;
    }
  }
  for (const auto& tid : taskIds) {
    const TaskRecord* t = driver_ ? driver_->task(tid) : nullptr;
    if (!t || conf::isTerminal(t->state)) continue;
    if (failed && !scaled.count(t->appId)) continue;
    kill(tid, nullptr);
  }
  // Their apps are looked at by the next pass (replacements for killed tasks).
  for (const auto& [appId, n] : perApp) needsWork_.insert(appId);
  (void)wipe;  // no resident tasks: a wiped task is simply expunged when terminal
  if (failed) return *failed;
  return r;
}

Status ServiceScheduler::resetDelay(const std::string& rawId) {
  auto idr = conf::resolveAppId(rawId);
  if (!idr.ok()) return makeError(ErrorKind::kNotFound, "App '" + rawId + "' does not exist");
  AppState* a = apps_.find(*idr);
  if (!a) return makeError(ErrorKind::kNotFound, "App '" + *idr + "' does not exist");
  a->delayUntilMs = 0;
  a->failuresInRow = 0;
  log::info("app {}: launch delay reset", *idr);
  reconcileOne(*idr);
  return Status::Ok();
}

}  // namespace corral::scheduler
