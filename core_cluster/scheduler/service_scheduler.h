// The built-in long-running-service scheduler (Marathon's job), one Scheduler
// behind the master's two-level interface. It coordinates the parts that each
// do one job:
//   app_store          apps and their versions, service ports, their mutations
//   deployment_store   deployments in progress (one per app), their mutations
//   deployment_policy  what to launch and kill next, when a deployment is done, backoff
//   placement          which offer each waiting instance goes to
//   readiness_probes   readiness checks gating deployments
// and api/marathon_json + api/marathon_events render what it holds and announces.
// Its API operations live in service_scheduler_changes.cc.
//
// Work is driven by events (API changes, status updates, probe results), each
// costing what its app holds; the periodic pass visits only the apps that
// still need work (a deployment in progress, instances waiting for offers or
// backoff, readiness not yet passed), so quiet apps cost nothing per tick.
// The first pass after start() looks at every app once and stops the tasks
// of apps that no longer exist (what a restart may have left).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/loop.h"
#include "conf/app_definition.h"
#include "core_cluster/events/event_bus.h"
#include "core_cluster/master/scheduler_api.h"
#include "core_cluster/scheduler/app_store.h"
#include "core_cluster/scheduler/deployment_policy.h"
#include "core_cluster/scheduler/deployment_store.h"
#include "core_cluster/scheduler/group_store.h"
#include "core_cluster/scheduler/readiness_probes.h"
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

  // API operations (service_scheduler_changes.cc). An app change and its deployment are durable
  // (one commit) before they return; kills and delay resets act in memory and on the agents (the
  // master persists what the tasks become). Errors carry an ErrorKind, which the API turns into
  // status codes.
  Result<ChangeResult> createApp(const Json& body);
  Result<ChangeResult> updateApp(const std::string& id, const Json& patch, bool force);
  Result<ChangeResult> deleteApp(const std::string& id, bool force);
  Result<ChangeResult> restartApp(const std::string& id, bool force);
  // Kills tasks; scale=true lowers instances by the number killed.
  Result<ChangeResult> killTasks(const std::vector<std::string>& taskIds, bool scale, bool wipe);
  // Without force a deployment is rolled back: its apps return to what they
  // were (created ones are removed) in a new deployment, whose id is returned.
  Result<ChangeResult> cancelDeployment(const std::string& id, bool force);
  // Several apps and groups in one deployment with ordered steps
  // (service_scheduler_groups.cc). dryRun: only the steps it would take.
  Result<ChangeResult> applyGroupChange(const GroupChange& change, bool force, bool dryRun);
  // DELETE /v2/queue/{app}/delay: launch again now instead of after the backoff.
  Status resetDelay(const std::string& appId);

  const std::map<std::string, AppState>& apps() const { return apps_.all(); }
  const AppState* app(const std::string& id) const { return apps_.find(id); }
  const std::map<std::string, Deployment>& deployments() const { return deployments_.all(); }
  const GroupStore& groups() const { return groups_; }
  // The deployment in progress for an app (one at most), or null.
  const Deployment* deploymentOfApp(const std::string& appId) const {
    return deployments_.ofApp(appId);
  }
  // App id -> instances waiting for an offer (the launch queue).
  const std::map<std::string, int>& launchQueue() const { return needed_; }
  master::SchedulerDriver* driver() const { return driver_; }
  Result<conf::AppDefinition> appVersion(const std::string& id, const std::string& version) const {
    return apps_.version(id, version);
  }
  // Non-terminal tasks of an app (or all apps when id empty).
  std::vector<const master::TaskRecord*> tasksOf(const std::string& appId) const;
  // Marathon JSON, rendered by api/marathon_json (kept here for the callers' names).
  Json appJson(const AppState& app, bool embedCounts, bool embedDeployments,
               bool embedLastTaskFailure) const;
  Json deploymentJson(const Deployment& d) const;
  Json queueJson() const;
  // Running, passing its health checks, and ready when the app has readiness checks.
  bool taskHealthy(const master::TaskRecord& t) const;

  // What the periodic pass has cost: passes run and apps visited by them.
  struct PassStats {
    uint64_t passes = 0;
    uint64_t appsVisited = 0;
  };
  const PassStats& passStats() const { return passStats_; }
  // Apps the next periodic pass visits.
  const std::set<std::string>& appsNeedingWork() const { return needsWork_; }

 private:
  // The periodic pass: only the apps that need work (and, once, every app and orphan).
  void periodicPass();
  // One app (or a deleted app's stop deployment): what a status update or an
  // API change of that app costs, whatever the other apps hold.
  void reconcileOne(const std::string& appId);
  void reconcileApp(AppState& app, const std::vector<const master::TaskRecord*>& tasks);
  // Moves the app's deployment on when every action of its step in progress is done.
  void advanceDeployment(const std::string& appId);
  bool actionDone(const DeploymentAction& a) const;
  // A one-app deployment with its plan trees (before/after: the app's definitions, null for none).
  DeploymentPlan singleAppPlan(const std::string& action, const std::string& appId,
                               const conf::AppDefinition* before, const conf::AppDefinition* after,
                               const std::string& version);
  // An app change that would close a dependency cycle (kInvalid), or Ok.
  Status checkDependencies(const conf::AppDefinition& target) const;
  // Whether the app stays on the periodic pass after what was just done to it.
  void updateNeedsWork(const std::string& appId,
                       const std::vector<const master::TaskRecord*>& tasks);
  // Kills tasks of apps that no longer exist (e.g. after a restart mid-deletion).
  void killOrphans();
  std::vector<TaskFacts> taskFacts(const AppState& app,
                                   const std::vector<const master::TaskRecord*>& tasks) const;
  void kill(const std::string& taskId, const conf::AppDefinition* def);
  static void countCommitFailure();
  // The app change and its deployment in one atomic commit.
  Status commitWithDeployment(std::vector<state::Mutation> batch, const DeploymentPlan& plan);
  // After the commit: the plan takes effect in memory and is announced. Returns its id.
  std::string startDeployment(const DeploymentPlan& plan);
  Result<ChangeResult> conflictCheck(const std::string& appId, bool force);
  bool isCurrent(const AppState& app, const master::TaskRecord& t) const;
  void announceWaiting();
  void forgetEnded();

  state::StateStore& store_;
  events::EventBus& bus_;
  SchedulerOptions options_;
  master::SchedulerDriver* driver_ = nullptr;
  AppStore apps_;
  DeploymentStore deployments_;
  GroupStore groups_;
  std::set<std::string> killing_;
  std::map<std::string, int> needed_;                    // app id -> instances waiting (> 0)
  std::map<std::string, std::string> announcedWaiting_;  // app id -> reason last published
  std::set<std::string> needsWork_;                      // apps the periodic pass visits
  bool firstPassDone_ = false;
  size_t rotation_ = 0;  // which offer placement starts at, rotated per round
  PassStats passStats_;
  ReadinessProbes readiness_;
  Timer reconcileTimer_;
  // Tasks that ended (task id, app id), expunged and their apps reconciled
  // on the next loop turn.
  std::vector<std::pair<std::string, std::string>> ended_;
  Timer endedTimer_;
};

}  // namespace corral::scheduler
