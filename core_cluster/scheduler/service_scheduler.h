// The built-in long-running-service scheduler (Marathon's job): apps and their
// versions, deployments (start, scale, rolling restart/update, stop), the
// launch queue with backoff, constraint placement, and Marathon's events.
// It is one Scheduler behind the master's two-level interface.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/json.h"
#include "base/loop.h"
#include "conf/app_definition.h"
#include "core_cluster/events/event_bus.h"
#include "core_cluster/master/scheduler_api.h"
#include "core_cluster/scheduler/scheduler_types.h"
#include "core_cluster/state/state_store.h"

namespace corral::scheduler {

class ServiceScheduler : public master::Scheduler {
 public:
  ServiceScheduler(Loop& loop, state::StateStore& store, events::EventBus& bus,
                   SchedulerOptions options = {});
  ~ServiceScheduler() override;

  Status recover(const state::StateMap& state);
  void start();

  // master::Scheduler
  std::string name() const override { return options_.frameworkName; }
  void registered(master::SchedulerDriver* driver) override { driver_ = driver; }
  void resourceOffers(const std::vector<master::Offer>& offers) override;
  void offerRescinded(const std::string&) override {}
  void statusUpdate(const master::TaskRecord& task, conf::TaskState previousState,
                    std::optional<bool> previousHealthy) override;

  // API operations. An app change and its deployment are durable (one commit)
  // before they return; kills and delay resets act in memory and on the agents
  // (the master persists what the tasks become). Errors carry an ErrorKind,
  // which the API turns into status codes.
  Result<ChangeResult> createApp(const Json& body);
  Result<ChangeResult> updateApp(const std::string& id, const Json& patch, bool force);
  Result<ChangeResult> deleteApp(const std::string& id, bool force);
  Result<ChangeResult> restartApp(const std::string& id, bool force);
  // Kills tasks; scale=true lowers instances by the number killed.
  Result<ChangeResult> killTasks(const std::vector<std::string>& taskIds, bool scale, bool wipe);
  Result<ChangeResult> cancelDeployment(const std::string& id, bool force);
  // DELETE /v2/queue/{app}/delay: launch again now instead of after the backoff.
  Status resetDelay(const std::string& appId);

  const std::map<std::string, AppState>& apps() const { return apps_; }
  const AppState* app(const std::string& id) const;
  const std::map<std::string, Deployment>& deployments() const { return deployments_; }
  // The deployment in progress for an app (one at most), or null.
  const Deployment* deploymentOfApp(const std::string& appId) const { return deploymentOf(appId); }
  // App id -> instances waiting for an offer (the launch queue).
  const std::map<std::string, int>& launchQueue() const { return needed_; }
  master::SchedulerDriver* driver() const { return driver_; }
  Result<conf::AppDefinition> appVersion(const std::string& id, const std::string& version) const;
  // Non-terminal tasks of an app (or all apps when id empty).
  std::vector<const master::TaskRecord*> tasksOf(const std::string& appId) const;
  // Marathon JSON, rendered by api/marathon_json (kept here for the callers' names).
  Json appJson(const AppState& app, bool embedCounts, bool embedDeployments,
               bool embedLastTaskFailure) const;
  Json deploymentJson(const Deployment& d) const;
  Json queueJson() const;
  bool taskHealthy(const master::TaskRecord& t) const;

 private:
  // Every app, deleted apps' deployments and orphans: the periodic pass.
  void reconcile();
  // One app (or a deleted app's stop deployment): what a status update or an
  // API change of that app costs, whatever the other apps hold.
  void reconcileOne(const std::string& appId);
  void finishStopIfDone(const std::string& appId);
  const Deployment* deploymentOf(const std::string& appId) const;
  void putDeployment(const Deployment& d);
  void eraseDeployment(const std::string& id);
  void checkReadiness();
  void reconcileApp(AppState& app);
  void finishDeploymentIfDone(AppState& app);
  std::string newVersion();
  // A deployment about to start: what it supersedes and the mutations that
  // make it durable, committed together with the app change that causes it.
  struct DeploymentPlan {
    Deployment deployment;
    std::vector<std::string> superseded;
    std::vector<state::Mutation> mutations;
  };
  std::vector<state::Mutation> appMutations(const AppState& app, bool newVersionEntry) const;
  DeploymentPlan planDeployment(const std::string& appId, const std::string& action,
                                const std::string& version) const;
  // The app change and its deployment in one atomic commit.
  Status commitWithDeployment(std::vector<state::Mutation> batch, const DeploymentPlan& plan);
  // After the commit: the plan takes effect in memory and is announced. Returns its id.
  std::string startDeployment(const DeploymentPlan& plan);
  Result<conf::AppDefinition> assignServicePorts(conf::AppDefinition def,
                                                 const std::string& skipApp);
  Result<ChangeResult> conflictCheck(const std::string& appId, bool force);
  Json launchPayload(const AppState& app, const std::vector<int>& ports) const;
  void publishStatusEvents(const master::TaskRecord& t, conf::TaskState prevState,
                           std::optional<bool> prevHealthy);
  bool isCurrent(const AppState& app, const master::TaskRecord& t) const;
  void killForApp(AppState& app, size_t count, bool onlyOld);

  Loop& loop_;
  CancelGroup readinessChecks_;  // readiness probes in flight
  state::StateStore& store_;
  events::EventBus& bus_;
  SchedulerOptions options_;
  master::SchedulerDriver* driver_ = nullptr;
  std::map<std::string, AppState> apps_;
  std::map<std::string, Deployment> deployments_;
  std::map<std::string, std::string> deploymentByApp_;  // app id -> its deployment's id
  std::set<std::string> killing_;
  std::set<std::string> ready_;  // tasks whose readiness check passed
  std::set<std::string> readinessInFlight_;
  std::map<std::string, int64_t> readinessDue_;  // task id -> wall ms of the next check
  std::map<std::string, int> needed_;            // app id -> instances waiting for an offer
  std::map<std::string, conf::AppDefinition> versionCache_;  // "id@version" -> definition
  std::map<std::string, std::string> announcedWaiting_;      // app id -> reason last published
  std::string lastVersion_;
  size_t rotation_ = 0;  // which offer placement starts at, rotated per round
  Timer reconcileTimer_;
};

}  // namespace corral::scheduler
