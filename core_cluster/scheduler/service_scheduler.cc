#include "core_cluster/scheduler/service_scheduler.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "core_cluster/api/marathon_events.h"
#include "core_cluster/api/marathon_json.h"
#include "core_cluster/scheduler/placement.h"

namespace corral::scheduler {

using conf::TaskReason;
using conf::TaskState;
using master::TaskRecord;

namespace {

// Killed (or being killed) by its agent because its health checks failed:
// decided on the typed reason the agent sends, never on the message text.
bool isHealthKill(const TaskRecord& t) {
  return (t.state == TaskState::kKilling || t.state == TaskState::kKilled) &&
         t.reason == TaskReason::kTaskHealthCheckStatusUpdated;
}

metrics::Counter& launchedCounter() {
  static auto& c = metrics::global().counter("corral_scheduler_tasks_launched_total",
                                             "Tasks launched by the service scheduler.");
  return c;
}

metrics::Counter& periodicVisits() {
  static auto& c = metrics::global().counter(
      "corral_scheduler_periodic_app_visits_total",
      "Apps visited by the periodic reconcile pass (only apps that need work).");
  return c;
}

}  // namespace

ServiceScheduler::ServiceScheduler(Loop& loop, state::StateStore& store, events::EventBus& bus,
                                   SchedulerOptions options)
    : store_(store),
      bus_(bus),
      options_(options),
      apps_(options.servicePortMin, options.servicePortMax),
      readiness_(loop, [this](const std::string& appId) { reconcileOne(appId); }),
      reconcileTimer_(loop),
      endedTimer_(loop) {
  metrics::global().gaugeFn(
      "corral_scheduler_apps", "Apps defined.",
      [this] { return static_cast<double>(apps_.size()); }, "", this);
  metrics::global().gaugeFn(
      "corral_scheduler_deployments", "Deployments in progress.",
      [this] { return static_cast<double>(deployments_.size()); }, "", this);
  metrics::global().gaugeFn(
      "corral_scheduler_apps_needing_work", "Apps the periodic reconcile pass visits.",
      [this] { return static_cast<double>(needsWork_.size()); }, "", this);
}

ServiceScheduler::~ServiceScheduler() { metrics::global().removeOwner(this); }

void ServiceScheduler::countCommitFailure() {
  static auto& c = metrics::global().counter(
      "corral_scheduler_state_commit_failures_total",
      "Scheduler changes refused because the state store could not persist them.");
  c.inc();
}

Status ServiceScheduler::recover(const state::StateMap& state) {
  for (const auto& [key, value] : state) {
    auto taken = apps_.recoverEntry(key, value);
    if (!taken.ok()) return taken.error();
    if (*taken) continue;
    auto group = groups_.recoverEntry(key, value);
    if (!group.ok()) return group.error();
    if (!*group) deployments_.recoverEntry(key, value);
  }
  log::info("recovered {} apps, {} groups and {} deployments", apps_.size(), groups_.all().size(),
            deployments_.size());
  return Status::Ok();
}

void ServiceScheduler::start() {
  reconcileTimer_.start(options_.reconcileIntervalMs, options_.reconcileIntervalMs,
                        [this] { periodicPass(); });
}

std::vector<const TaskRecord*> ServiceScheduler::tasksOf(const std::string& appId) const {
  std::vector<const TaskRecord*> out;
  if (!driver_) return out;
  // One app's tasks come from the driver's index: no scan of every task.
  for (const auto* t : appId.empty() ? driver_->tasks() : driver_->tasksOfApp(appId)) {
    if (t->framework != options_.frameworkName) continue;
    if (conf::isTerminal(t->state)) continue;
    out.push_back(t);
  }
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) {
    return a->stagedAtMs != b->stagedAtMs ? a->stagedAtMs < b->stagedAtMs : a->id < b->id;
  });
  return out;
}

bool ServiceScheduler::taskHealthy(const TaskRecord& t) const {
  if (t.state != TaskState::kRunning) return false;
  const AppState* a = apps_.find(t.appId);
  if (!a) return true;
  if (!a->def.healthChecks.empty() && !t.healthy.value_or(false)) return false;
  // Readiness (Marathon's readinessChecks): a replacement counts only once ready.
  return a->def.readinessChecks.empty() || readiness_.ready(t.id);
}

bool ServiceScheduler::isCurrent(const AppState& app, const TaskRecord& t) const {
  return t.version >= app.lastConfigChangeAt;
}

std::vector<TaskFacts> ServiceScheduler::taskFacts(
    const AppState& app, const std::vector<const TaskRecord*>& tasks) const {
  std::vector<TaskFacts> out;
  out.reserve(tasks.size());
  for (const auto* t : tasks) {
    out.push_back(TaskFacts{t->id, t->stagedAtMs, conf::isActive(t->state), isCurrent(app, *t),
                            taskHealthy(*t), t->killRequested || killing_.count(t->id) > 0});
  }
  return out;
}

void ServiceScheduler::kill(const std::string& taskId, const conf::AppDefinition* def) {
  killing_.insert(taskId);
  std::optional<double> grace;
  if (def && def->taskKillGracePeriodSeconds) grace = *def->taskKillGracePeriodSeconds;
  driver_->killTask(taskId, grace);
}

void ServiceScheduler::resourceOffers(const std::vector<master::Offer>& offers) {
  int64_t now = wallMs();
  std::map<std::string, conf::AgentInfo> agentInfo;
  for (const auto* a : driver_->agents()) {
    agentInfo[a->id] = conf::AgentInfo{a->hostname, a->attributes};
  }
  std::vector<conf::AgentInfo> everyAgent;
  for (const auto& [id, ai] : agentInfo) everyAgent.push_back(ai);
  Placement placement(offers, std::move(everyAgent), options_.maxTasksPerOffer);
  size_t start = offers.empty() ? 0 : rotation_++ % offers.size();
  // Only apps with instances waiting are placed (and only their tasks count
  // for constraints): an offer round costs what is waiting, not every app.
  for (auto it = needed_.begin(); it != needed_.end();) {
    const std::string& appId = it->first;
    AppState* app = apps_.find(appId);
    if (!app || offers.empty()) {
      ++it;
      continue;
    }
    if (app->delayUntilMs > now) {
      app->waitingReason = "backing off after task failures";
      ++it;
      continue;
    }
    for (const auto* t : tasksOf(appId)) {
      if (!conf::isActive(t->state) || t->killRequested) continue;
      auto ai = agentInfo.find(t->agentId);
      if (ai != agentInfo.end()) placement.addPlaced(appId, ai->second);
    }
    int placed = placement.place(appId, app->def, it->second, start, app->waitingReason);
    const auto looked = static_cast<int64_t>(offers.size());
    app->processedOffers += looked;
    app->unusedOffers += looked - std::min<int64_t>(placed, looked);
    it->second -= placed;
    if (it->second > 0) {
      ++it;
      continue;
    }
    app->waitingReason.clear();
    it = needed_.erase(it);
  }
  for (size_t i = 0; i < placement.offerCount(); ++i) {
    const master::Offer& offer = placement.offer(i);
    const auto& specs = placement.specs(i);
    if (specs.empty()) {
      driver_->declineOffer(offer.id, 1.0);
      continue;
    }
    auto r = driver_->acceptOffer(offer.id, specs);
    if (!r.ok() || !*r) {
      log::warn("offer {} not accepted: {}", offer.id, r.ok() ? "offer gone" : r.error().message);
      continue;
    }
    launchedCounter().inc(static_cast<double>(specs.size()));
  }
  announceWaiting();
}

void ServiceScheduler::announceWaiting() {
  // A stuck deployment says why, once per change of reason: the apps waiting
  // now and those that had announced a reason before.
  std::set<std::string> ids;
  for (const auto& [appId, n] : needed_) ids.insert(appId);
  for (const auto& [appId, reason] : announcedWaiting_) ids.insert(appId);
  for (const auto& appId : ids) {
    const AppState* app = apps_.find(appId);
    if (!app) {
      announcedWaiting_.erase(appId);
      continue;
    }
    auto n = needed_.find(appId);
    int count = n != needed_.end() ? n->second : 0;
    std::string reason = count > 0 ? app->waitingReason : "";
    auto last = announcedWaiting_.find(appId);
    if (reason == (last == announcedWaiting_.end() ? "" : last->second)) continue;
    if (reason.empty()) {
      announcedWaiting_.erase(appId);
      continue;
    }
    announcedWaiting_[appId] = reason;
    log::info("app {}: {} instance(s) waiting: {}", appId, count, reason);
    Json ev;
    ev["appId"] = appId;
    ev["count"] = count;
    ev["reason"] = reason;
    bus_.publish("launch_queue_waiting_event", ev);
  }
}

void ServiceScheduler::statusUpdate(const TaskRecord& t, TaskState prevState,
                                    std::optional<bool> prevHealthy) {
  AppState* app = apps_.find(t.appId);
  api::publishTaskEvents(bus_, t, prevState, prevHealthy, app ? &app->def : nullptr);
  bool weKill = killing_.count(t.id) > 0;
  // The agent killed it for failing its health checks (not a kill we asked for).
  bool unhealthyKill = isHealthKill(t) && !weKill;
  if (unhealthyKill && app && t.state == TaskState::kKilled) {
    bus_.publish("unhealthy_instance_kill_event", api::unhealthyKillEvent(t));
  }
  if (app) {
    if (isLaunchFailure(t.state, unhealthyKill, weKill || t.killRequested)) {
      app->failuresInRow++;
      double delay = launchBackoffSeconds(app->def, app->failuresInRow);
      app->delayUntilMs = wallMs() + static_cast<int64_t>(delay * 1000);
      app->lastTaskFailure = api::taskFailureJson(t, isoNow());
      log::info("app {}: task {} {} ({}); next launch in {:.1f}s", t.appId, t.id,
                conf::toString(t.state), t.message, delay);
    }
    if (taskHealthy(t)) app->failuresInRow = 0;
  }
  if (conf::isTerminal(t.state)) {
    killing_.erase(t.id);
    readiness_.forget(t.id);
    // Forget it after this callback returns (never delete inside a callback):
    // on the scheduler's own timer, so nothing runs once the scheduler is gone.
    ended_.emplace_back(t.id, t.appId);
    if (!endedTimer_.active()) endedTimer_.start(0, 0, [this] { forgetEnded(); });
  } else {
    // A status update costs what its app has, not what every app has.
    reconcileOne(t.appId);
  }
}

void ServiceScheduler::forgetEnded() {
  std::vector<std::pair<std::string, std::string>> ended;
  ended.swap(ended_);  // what ends while these are handled waits for the next turn
  for (const auto& [taskId, appId] : ended) {
    if (driver_) driver_->expungeTask(taskId);
    reconcileOne(appId);
  }
}

void ServiceScheduler::reconcileApp(AppState& app, const std::vector<const TaskRecord*>& tasks) {
  Step step = nextStep(app.def, taskFacts(app, tasks));
  for (const auto& id : step.kill) kill(id, &app.def);
  const std::string& id = app.def.id;
  auto waiting = needed_.find(id);
  if (step.launch > 0 && waiting == needed_.end()) {
    app.queuedSinceMs = wallMs();
    app.processedOffers = app.unusedOffers = 0;
  }
  if (step.launch > 0) {
    needed_[id] = step.launch;
    if (driver_) driver_->reviveOffers();
  } else if (waiting != needed_.end()) {
    needed_.erase(waiting);
  }
}

bool ServiceScheduler::actionDone(const DeploymentAction& a) const {
  if (a.action == "StopApplication") return !apps_.find(a.appId) && tasksOf(a.appId).empty();
  const AppState* app = apps_.find(a.appId);
  // Removed since (by a forced change): nothing of it is left to wait for.
  if (!app) return tasksOf(a.appId).empty();
  return deploymentDone(app->def, taskFacts(*app, tasksOf(a.appId)));
}

void ServiceScheduler::advanceDeployment(const std::string& appId) {
  const Deployment* running = deployments_.ofApp(appId);
  if (!running || running->currentStep >= running->steps.size()) return;
  Deployment d = *running;
  const auto& step = d.steps[d.currentStep];
  bool inStep = false;
  for (const auto& a : step) inStep |= a.appId == appId;
  if (!inStep) return;
  for (const auto& a : step) {
    if (!actionDone(a)) return;
  }
  size_t next = d.currentStep + 1;
  bool last = next >= d.steps.size();
  state::Mutation m =
      last ? DeploymentStore::doneMutation(d.id) : DeploymentStore::stepMutation(d, next);
  if (Status st = store_.commit({m}); !st.ok()) {
    // Still in progress as far as anyone can tell; the next reconcile tries again.
    countCommitFailure();
    log::error("deployment {}: step {} is done but cannot be persisted: {}", d.id,
               d.currentStep + 1, st.error().message);
    return;
  }
  for (const auto& a : step) {
    if (a.action != "StopApplication") continue;
    needed_.erase(a.appId);
    Json term;
    term["appId"] = a.appId;
    bus_.publish("app_terminated_event", term);
  }
  bus_.publish("deployment_step_success", api::deploymentStepEvent(d));
  if (last) {
    deployments_.erase(d.id);
    bus_.publish("deployment_success", api::deploymentOutcomeEvent(d));
    log::info("deployment {} succeeded ({} step(s))", d.id, d.steps.size());
    return;
  }
  deployments_.advance(d.id, next);
  d.currentStep = next;
  bus_.publish("deployment_info", api::deploymentStepEvent(d));
  log::info("deployment {}: step {}/{} started", d.id, next + 1, d.steps.size());
  // The apps of the new step were held until now.
  for (const auto& a : d.steps[next]) reconcileOne(a.appId);
}

void ServiceScheduler::periodicPass() {
  if (!driver_) return;
  ++passStats_.passes;
  if (!firstPassDone_) {
    // After a start or a recovery every app is looked at once (tasks may have
    // been lost while the master was down), and tasks of deleted apps stopped.
    firstPassDone_ = true;
    for (const auto& [id, app] : apps_.all()) needsWork_.insert(id);
    for (const auto& [appId, deploymentId] : deployments_.byApp()) needsWork_.insert(appId);
    killOrphans();
  }
  int64_t now = wallMs();
  std::vector<std::string> work(needsWork_.begin(), needsWork_.end());
  for (const auto& appId : work) {
    ++passStats_.appsVisited;
    periodicVisits().inc();
    if (const AppState* app = apps_.find(appId)) readiness_.probe(app->def, tasksOf(appId), now);
    reconcileOne(appId);
  }
}

void ServiceScheduler::killOrphans() {
  for (const auto* t : tasksOf("")) {
    if (!apps_.find(t->appId) && !killing_.count(t->id) && conf::isActive(t->state)) {
      kill(t->id, nullptr);
    }
  }
}

void ServiceScheduler::reconcileOne(const std::string& appId) {
  if (!driver_) {
    needsWork_.insert(appId);  // looked at once the driver is there
    return;
  }
  if (deployments_.held(appId)) {
    // Its deployment step has not started: nothing is launched or killed for it yet.
    needed_.erase(appId);
    needsWork_.erase(appId);
    return;
  }
  AppState* app = apps_.find(appId);
  if (!app) {
    // A deleted app's stop deployment is looked at until its tasks are gone.
    advanceDeployment(appId);
    if (deployments_.ofApp(appId)) {
      needsWork_.insert(appId);
    } else {
      needsWork_.erase(appId);
    }
    return;
  }
  reconcileApp(*app, tasksOf(appId));
  // Kills sent just now show in the tasks' facts (stopping), so read them again.
  auto tasks = tasksOf(appId);
  advanceDeployment(appId);
  updateNeedsWork(appId, tasks);
}

void ServiceScheduler::updateNeedsWork(const std::string& appId,
                                       const std::vector<const TaskRecord*>& tasks) {
  const AppState* app = apps_.find(appId);
  bool needs = deployments_.ofApp(appId) != nullptr || needed_.count(appId) > 0 ||
               (app && readiness_.pending(app->def, tasks));
  if (needs) {
    needsWork_.insert(appId);
  } else {
    needsWork_.erase(appId);
  }
}

// Rendering lives in the API (api/marathon_json); these keep the
// scheduler's callers and tests on their names.
Json ServiceScheduler::deploymentJson(const Deployment& d) const { return api::deploymentJson(d); }

Json ServiceScheduler::appJson(const AppState& app, bool embedCounts, bool embedDeployments,
                               bool embedLastTaskFailure) const {
  return api::appJson(*this, app, embedCounts, embedDeployments, embedLastTaskFailure);
}

Json ServiceScheduler::queueJson() const { return api::queueJson(*this, wallMs()); }

}  // namespace corral::scheduler
