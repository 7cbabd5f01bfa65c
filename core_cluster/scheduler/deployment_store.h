// The deployments in progress, at most one per app, and the state mutations
// that make a deployment durable. A deployment may act on several apps in
// ordered steps; a new deployment of an app supersedes the running one (with
// every app of it) in the same commit as the app change that causes it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "core_cluster/scheduler/scheduler_types.h"
#include "core_cluster/state/state_store.h"

namespace corral::scheduler {

// A deployment about to start: what it supersedes and the mutations that make
// it durable, to be committed together with the app change that causes it.
struct DeploymentPlan {
  Deployment deployment;
  std::vector<std::string> superseded;
  std::vector<state::Mutation> mutations;
};

class DeploymentStore {
 public:
  // Takes one entry of the recovered state when it is a deployment
  // ("/deployments/..."): true when taken, false when it is someone else's.
  bool recoverEntry(const std::string& key, const Json& value);

  const std::map<std::string, Deployment>& all() const { return deployments_; }
  const Deployment* find(const std::string& id) const;
  // The app's deployment in progress, or null.
  const Deployment* ofApp(const std::string& appId) const;
  // Apps with a deployment in progress (deleted apps' stop deployments too).
  const std::map<std::string, std::string>& byApp() const { return byApp_; }
  size_t size() const { return deployments_.size(); }
  // The app waits for an earlier step of its deployment: nothing is done to it yet.
  bool held(const std::string& appId) const;

  // A new deployment of one app (a fresh id), superseding its running one.
  DeploymentPlan plan(const std::string& appId, const std::string& action,
                      const std::string& version, int64_t nowMs) const;
  // A new deployment (given its steps, version, trees; a fresh id), superseding
  // the running deployments of every app it acts on.
  DeploymentPlan plan(Deployment d) const;
  // What marks a deployment finished (or cancelled) in the state.
  static state::Mutation doneMutation(const std::string& id);
  // What records that the deployment moved on to step `next`.
  static state::Mutation stepMutation(const Deployment& d, size_t next);

  // After the commit: the plan's deployment runs, the superseded ones are gone.
  void start(const DeploymentPlan& plan);
  // After the commit: the deployment moved on to step `next`.
  void advance(const std::string& id, size_t next);
  // After the commit: the deployment is over.
  void erase(const std::string& id);

 private:
  void put(const Deployment& d);

  std::map<std::string, Deployment> deployments_;
  std::map<std::string, std::string> byApp_;  // app id -> its deployment's id
};

}  // namespace corral::scheduler
