// ServiceScheduler's changes of several apps at once (groups, bulk updates,
// rollbacks): every app and group change and the one deployment ordering them
// are one atomic commit; the deployment then runs its steps in dependency
// order (service_scheduler.cc advances them).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "base/clock.h"
#include "base/log.h"
#include "core_cluster/api/marathon_events.h"
#include "core_cluster/scheduler/deployment_plan.h"
#include "core_cluster/scheduler/ids.h"
#include "core_cluster/scheduler/service_scheduler.h"

namespace corral::scheduler {

namespace {

// Whether two definitions differ in more than their version and instances
// (a restart rather than a scale).
bool configDiffers(conf::AppDefinition a, conf::AppDefinition b) {
  a.version.reset();
  b.version.reset();
  a.instances = b.instances = 0;
  return !(a == b);
}

bool under(const std::string& id, const std::string& group) {
  return group == "/" || id.rfind(group + "/", 0) == 0;
}

// The ids of a map's keys under `group`, at any depth.
template <typename Map>
void keysUnder(const Map& m, const std::string& group, std::vector<std::string>& out) {
  std::string prefix = group == "/" ? "/" : group + "/";
  for (auto it = m.lower_bound(prefix); it != m.end(); ++it) {
    if (it->first.rfind(prefix, 0) != 0) break;
    out.push_back(it->first);
  }
}

}  // namespace

DeploymentPlan ServiceScheduler::singleAppPlan(const std::string& action, const std::string& appId,
                                               const conf::AppDefinition* before,
                                               const conf::AppDefinition* after,
                                               const std::string& version) {
  auto deps = [this](const std::string& g) { return groups_.dependencies(g); };
  std::vector<Json> was, will;
  if (before) was.push_back(conf::toMarathonJson(*before));
  if (after) will.push_back(conf::toMarathonJson(*after));
  Deployment d;
  d.version = version;
  d.steps = {{{action, appId}}};
  d.startedMs = wallMs();
  d.original =
      groupTree("/", was, {}, deps, before && before->version ? *before->version : version);
  d.target = groupTree("/", will, {}, deps, version);
  return deployments_.plan(std::move(d));
}

Status ServiceScheduler::checkDependencies(const conf::AppDefinition& target) const {
  if (target.dependencies.empty()) return Status::Ok();
  DependencyView view;
  view.appDependencies = [&](const std::string& id) -> const std::vector<std::string>* {
    if (id == target.id) return &target.dependencies;
    const AppState* a = apps_.find(id);
    return a ? &a->def.dependencies : nullptr;
  };
  view.groupDependencies = [this](const std::string& g) { return groups_.dependencies(g); };
  view.appsUnder = [&](const std::string& g) {
    std::vector<std::string> out;
    keysUnder(apps_.all(), g, out);
    if (under(target.id, g) && !apps_.find(target.id)) out.push_back(target.id);
    return out;
  };
  auto steps = orderSteps({{"ScaleApplication", target.id}}, view);
  if (!steps.ok()) return steps.error();
  return Status::Ok();
}

Result<ChangeResult> ServiceScheduler::applyGroupChange(const GroupChange& change, bool force,
                                                        bool dryRun) {
  auto failed = [&](Error e, const std::string& version) {
    Json ev;
    ev["groupId"] = change.groupId;
    ev["version"] = version;
    ev["reason"] = e.message;
    bus_.publish("group_change_failed", ev);
    return e;
  };
  std::string v = apps_.newVersion();
  // 1. The apps as they will be, and what the deployment does to each.
  std::map<std::string, AppState> targets;
  std::vector<DeploymentAction> actions;
  std::set<int> reserved;
  for (const auto& in : change.apps) {
    std::string id = in.body.value("id", "");
    const AppState* existing = apps_.find(id);
    auto def = existing && in.partial ? conf::applyAppPatch(existing->def, in.body)
                                      : conf::parseAppDefinition(in.body);
    if (!def.ok()) {
      Error e = def.error();
      e.kind = ErrorKind::kInvalid;
      e.message = id + ": " + e.message;
      return e;
    }
    if (!existing) {
      if (Status st = apps_.checkNewId(def->id); !st.ok()) return failed(st.error(), v);
      if (groups_.find(def->id)) {
        return failed(
            makeError(ErrorKind::kConflict, "A group with id [" + def->id + "] already exists."),
            v);
      }
    }
    auto withPorts = apps_.assignServicePorts(*def, id, reserved);
    if (!withPorts.ok()) return withPorts.error();
    for (const auto& pd : withPorts->portDefinitions) reserved.insert(pd.port);
    AppState a = existing ? *existing : AppState{};
    std::string action = "StartApplication";
    if (existing) {
      bool restart = configDiffers(existing->def, *withPorts);
      bool scale = withPorts->instances != existing->def.instances;
      if (!restart && !scale) continue;  // unchanged: keeps its version, no action
      action = restart ? "RestartApplication" : "ScaleApplication";
      if (restart) a.lastConfigChangeAt = v;
      a.lastScalingAt = v;
      a.failuresInRow = 0;
      a.delayUntilMs = 0;
    } else {
      a.lastConfigChangeAt = v;
      a.lastScalingAt = v;
    }
    a.def = std::move(*withPorts);
    a.def.version = v;
    a.versions.push_back(v);
    actions.push_back({action, id});
    targets[id] = std::move(a);
  }
  std::set<std::string> removed;
  for (const auto& id : change.removeApps) {
    if (!apps_.find(id) || targets.count(id) || !removed.insert(id).second) continue;
    actions.push_back({"StopApplication", id});
  }
  // 2. The groups as they will be.
  std::map<std::string, GroupState> groupTargets;
  std::set<std::string> removedGroups(change.removeGroups.begin(), change.removeGroups.end());
  for (const auto& g : change.groups) {
    GroupState s;
    if (const GroupState* old = groups_.find(g.id)) s = *old;
    s.id = g.id;
    s.dependencies = g.dependencies;
    s.version = v;
    groupTargets[g.id] = s;
    removedGroups.erase(g.id);
  }
  if (change.recordVersion && !groupTargets.count(change.groupId)) {
    GroupState s;
    if (const GroupState* old = groups_.find(change.groupId)) s = *old;
    s.id = change.groupId;
    s.version = v;
    groupTargets[s.id] = s;
  }
  auto groupDeps = [&](const std::string& g) -> std::vector<std::string> {
    if (removedGroups.count(g)) return {};
    auto t = groupTargets.find(g);
    return t != groupTargets.end() ? t->second.dependencies : groups_.dependencies(g);
  };
  // 3. The steps, dependencies first.
  DependencyView view;
  view.appDependencies = [&](const std::string& id) -> const std::vector<std::string>* {
    if (removed.count(id)) return nullptr;
    auto t = targets.find(id);
    if (t != targets.end()) return &t->second.def.dependencies;
    const AppState* a = apps_.find(id);
    return a ? &a->def.dependencies : nullptr;
  };
  view.groupDependencies = groupDeps;
  auto appsAfter = [&](const std::string& g) {
    std::vector<std::string> ids;
    keysUnder(apps_.all(), g, ids);
    std::erase_if(ids, [&](const std::string& id) { return removed.count(id) > 0; });
    for (const auto& [id, a] : targets) {
      if (under(id, g) && !apps_.find(id)) ids.push_back(id);
    }
    return ids;
  };
  view.appsUnder = appsAfter;
  auto steps = orderSteps(actions, view);
  if (!steps.ok()) return steps.error();
  if (dryRun) {
    ChangeResult r;
    r.version = v;
    r.steps = stepsJson(*steps);
    return r;
  }
  if (!force) {
    for (const auto& a : actions) {
      if (const Deployment* d = deployments_.ofApp(a.appId)) {
        Error e = makeError(ErrorKind::kConflict,
                            "App is locked by one or more deployments. Override with the option "
                            "'?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.");
        e.path = d->id;
        return failed(e, v);
      }
    }
  }
  // 4. The plan's trees: the affected apps before and after.
  std::vector<Json> was, will;
  std::string originalVersion;
  for (const auto& a : actions) {
    if (const AppState* old = apps_.find(a.appId)) {
      was.push_back(conf::toMarathonJson(old->def));
      originalVersion = std::max(originalVersion, old->def.version.value_or(""));
    }
    auto t = targets.find(a.appId);
    if (t != targets.end()) will.push_back(conf::toMarathonJson(t->second.def));
  }
  auto oldDeps = [this](const std::string& g) { return groups_.dependencies(g); };
  Deployment d;
  d.version = v;
  d.steps = std::move(*steps);
  d.startedMs = wallMs();
  d.original = groupTree("/", was, {}, oldDeps, originalVersion.empty() ? v : originalVersion);
  std::vector<std::string> newGroups;
  for (const auto& [id, g] : groupTargets) newGroups.push_back(id);
  d.target = groupTree("/", will, newGroups, groupDeps, v);
  // 5. Everything in one commit.
  std::vector<state::Mutation> batch;
  for (const auto& [id, a] : targets) {
    auto m = apps_.putMutations(a, true);
    batch.insert(batch.end(), m.begin(), m.end());
  }
  for (const auto& id : removed) {
    auto m = apps_.deleteMutations(id);
    batch.insert(batch.end(), m.begin(), m.end());
  }
  std::vector<std::string> goneGroups;
  for (const auto& id : removedGroups) {
    if (!groups_.find(id)) continue;
    goneGroups.push_back(id);
    auto m = groups_.deleteMutations(id);
    batch.insert(batch.end(), m.begin(), m.end());
  }
  Json snapshot;
  if (change.recordVersion) {
    // The group as it will be: every app under it and every group defined under it.
    std::vector<Json> apps;
    for (const auto& id : appsAfter(change.groupId)) {
      auto t = targets.find(id);
      apps.push_back(
          conf::toMarathonJson(t != targets.end() ? t->second.def : apps_.find(id)->def));
    }
    std::vector<std::string> defined;
    for (const auto& id : groups_.under(change.groupId)) {
      if (!removedGroups.count(id)) defined.push_back(id);
    }
    for (const auto& [id, g] : groupTargets) defined.push_back(id);
    snapshot = groupTree(change.groupId, apps, defined, groupDeps, v);
    groupTargets[change.groupId].versions.push_back(v);
  }
  for (const auto& [id, g] : groupTargets) {
    auto m = groups_.putMutations(g, id == change.groupId ? snapshot : Json());
    batch.insert(batch.end(), m.begin(), m.end());
  }
  bool deploys = !d.steps.empty();
  DeploymentPlan plan;
  if (deploys) plan = deployments_.plan(std::move(d));
  if (Status st = commitWithDeployment(std::move(batch), plan); !st.ok()) {
    return failed(makeError(ErrorKind::kUnavailable,
                            "cannot persist the group change: " + st.error().message),
                  v);
  }
  // 6. In memory, announced, and the apps of the first step under way.
  for (auto& [id, a] : targets) apps_.put(a);
  for (const auto& id : removed) apps_.erase(id);
  for (const auto& id : goneGroups) groups_.erase(id);
  for (auto& [id, g] : groupTargets) {
    groups_.put(g, id == change.groupId ? snapshot : Json());
  }
  ChangeResult r;
  r.version = v;
  if (deploys) {
    r.deploymentId = startDeployment(plan);
  } else {
    // Nothing to do: the deployment is over as it starts.
    d.id = uuid4();
    r.deploymentId = d.id;
  }
  Json ev;
  ev["groupId"] = change.groupId;
  ev["version"] = v;
  bus_.publish("group_change_success", ev);
  if (!deploys) bus_.publish("deployment_success", api::deploymentOutcomeEvent(d));
  log::info("group {} changed to version {}: {} app(s) changed, {} removed", change.groupId, v,
            targets.size(), removed.size());
  for (const auto& id : removed) {
    for (const auto* t : tasksOf(id)) kill(t->id, nullptr);
  }
  for (const auto& a : actions) reconcileOne(a.appId);
  return r;
}

Result<ChangeResult> ServiceScheduler::cancelDeployment(const std::string& id, bool force) {
  const Deployment* found = deployments_.find(id);
  if (!found) return makeError(ErrorKind::kNotFound, "DeploymentPlan " + id + " does not exist");
  Deployment d = *found;
  if (!force && d.original.is_object()) {
    // Roll back: every app of the deployment as it was before (those it
    // created removed, those it stopped restored), in a new deployment that
    // supersedes this one.
    std::map<std::string, Json> before;
    for (auto& app : appsOfTree(d.original)) {
      std::string appId = app.value("id", "");
      before[appId] = std::move(app);
    }
    GroupChange back;
    for (const auto& appId : d.appIds()) {
      auto was = before.find(appId);
      if (was == before.end()) {
        back.removeApps.push_back(appId);
        continue;
      }
      Json body = was->second;
      body.erase("version");
      back.apps.push_back({body, false});
    }
    auto r = applyGroupChange(back, true, false);
    if (!r.ok()) return r.error();
    bus_.publish("deployment_failed", api::deploymentOutcomeEvent(d));
    log::info("deployment {} rolled back by deployment {}", id, r->deploymentId);
    return r;
  }
  if (Status st = store_.commit({DeploymentStore::doneMutation(id)}); !st.ok()) {
    countCommitFailure();
    return makeError(ErrorKind::kUnavailable,
                     "cannot persist the cancellation: " + st.error().message);
  }
  deployments_.erase(id);
  bus_.publish("deployment_failed", api::deploymentOutcomeEvent(d));
  // Its apps are no longer held by it.
  for (const auto& appId : d.appIds()) reconcileOne(appId);
  ChangeResult r;
  r.version = apps_.newVersion();
  return r;
}

}  // namespace corral::scheduler
