// How a change of several apps becomes one deployment: the ordered steps
// (Marathon's plan: stop what goes away first, then the dependency layers,
// the apps others depend on before those depending on them) and the group
// trees a plan carries. Pure: what exists comes in through a DependencyView.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "core_cluster/scheduler/scheduler_types.h"

namespace corral::scheduler {

// What the apps and groups look like after the change.
struct DependencyView {
  // The dependencies of an app (absolute app or group ids); null when there is no such app.
  std::function<const std::vector<std::string>*(const std::string& appId)> appDependencies;
  // The dependencies of a group (absolute ids); empty when none.
  std::function<std::vector<std::string>(const std::string& groupId)> groupDependencies;
  // Every app under a group, at any depth.
  std::function<std::vector<std::string>(const std::string& groupId)> appsUnder;
};

// The steps of a deployment: every StopApplication in the first step, then
// one step per dependency layer (an app's layer is the longest dependency
// path below it; an app depends on what it names, on every app of a group it
// names, and on what each of its enclosing groups depends on). A dependency
// cycle among the apps is an error (kInvalid) naming the cycle. Empty steps
// are left out.
Result<std::vector<std::vector<DeploymentAction>>> orderSteps(
    const std::vector<DeploymentAction>& actions, const DependencyView& view);

// A group tree as Marathon writes one ({id, apps, groups, pods,
// dependencies, version}): `rootId` and every group down to each app (given
// in Marathon's JSON) and to each of `groups`. groupDependencies may be null.
Json groupTree(const std::string& rootId, const std::vector<Json>& apps,
               const std::vector<std::string>& groups,
               const std::function<std::vector<std::string>(const std::string&)>& groupDependencies,
               const std::string& version);

// The steps as Marathon renders them: [{"actions":[{"action":..,"app":..}]}].
Json stepsJson(const std::vector<std::vector<DeploymentAction>>& steps);

// Every app of a group tree (Marathon's JSON), at any depth.
std::vector<Json> appsOfTree(const Json& tree);

}  // namespace corral::scheduler
