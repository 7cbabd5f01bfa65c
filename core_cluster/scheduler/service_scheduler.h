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
#include "core_cluster/state/state_store.h"

namespace corral::scheduler {

struct AppState {
  conf::AppDefinition def;  // def.version holds the current version
  std::string lastConfigChangeAt;
  std::string lastScalingAt;
  std::vector<std::string> versions;  // every stored version, oldest first
  int failuresInRow = 0;
  int64_t delayUntilMs = 0;   // wall ms; launch backoff after failures
  Json lastTaskFailure;       // null when none
  std::string waitingReason;  // why instances are not placed, for /v2/queue and events
  int64_t queuedSinceMs = 0;
};

struct Deployment {
  std::string id;
  std::string version;
  std::string appId;
  std::string action;  // StartApplication | ScaleApplication | RestartApplication | StopApplication
  int64_t startedMs = 0;
};

struct SchedulerOptions {
  std::string frameworkName = "marathon";
  int servicePortMin = 10000;
  int servicePortMax = 20000;
  uint64_t reconcileIntervalMs = 250;
  // Marathon's maxInstancesPerOffer: bounds a launch message and spreads big apps.
  int maxTasksPerOffer = 50;
};

// What an API call did: the HTTP layer turns it into Marathon's responses.
struct ChangeResult {
  std::string version;
  std::string deploymentId;
  Json app;  // for create
};

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
  void statusUpdate(const master::TaskRecord& task, const std::string& previousState,
                    std::optional<bool> previousHealthy) override;

  // API operations (all durable before they return). Errors carry HTTP codes.
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
  master::SchedulerDriver* driver() const { return driver_; }
  Result<conf::AppDefinition> appVersion(const std::string& id, const std::string& version) const;
  // Non-terminal tasks of an app (or all apps when id empty).
  std::vector<const master::TaskRecord*> tasksOf(const std::string& appId) const;
  // Marathon JSON of an app (tasks are embedded by api/marathon_json, as text).
  Json appJson(const AppState& app, bool embedCounts, bool embedDeployments,
               bool embedLastTaskFailure) const;
  Json deploymentJson(const Deployment& d) const;
  Json queueJson() const;
  bool taskHealthy(const master::TaskRecord& t) const;

 private:
  void reconcile();
  void checkReadiness();
  void reconcileApp(AppState& app);
  void finishDeploymentIfDone(AppState& app);
  std::string newVersion();
  Status persistApp(const AppState& app, bool newVersionEntry);
  Result<conf::AppDefinition> assignServicePorts(conf::AppDefinition def,
                                                 const std::string& skipApp);
  std::string startDeployment(const std::string& appId, const std::string& action,
                              const std::string& version);
  Result<ChangeResult> conflictCheck(const std::string& appId, bool force);
  Json launchPayload(const AppState& app, const std::vector<int>& ports) const;
  void publishStatusEvents(const master::TaskRecord& t, const std::string& prevState,
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
  std::set<std::string> killing_;
  std::set<std::string> ready_;  // tasks whose readiness check passed
  std::set<std::string> readinessInFlight_;
  std::map<std::string, int64_t> readinessDue_;  // task id -> wall ms of the next check
  std::map<std::string, int> needed_;            // app id -> instances waiting for an offer
  std::map<std::string, conf::AppDefinition> versionCache_;  // "id@version" -> definition
  std::map<std::string, std::string> announcedWaiting_;      // app id -> reason last published
  std::string lastVersion_;
  uint64_t taskSeq_ = 0;
  size_t rotation_ = 0;  // which offer placement starts at, rotated per round
  Timer reconcileTimer_;
};

}  // namespace corral::scheduler
