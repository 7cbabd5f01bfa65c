#include "core_cluster/scheduler/service_scheduler.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "base/clock.h"
#include "base/http_client.h"
#include "base/log.h"
#include "base/metrics.h"

namespace corral::scheduler {

using conf::TaskReason;
using conf::TaskState;
using master::TaskRecord;

namespace {

std::string uuid4() {
  static std::mt19937_64 rng(std::random_device{}());
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) s.push_back('-');
    s.push_back(kHex[rng() & 15]);
  }
  return s;
}

// "/shop/web" -> "shop_web", Marathon's task id prefix.
std::string taskIdPrefix(const std::string& appId) {
  std::string out;
  for (char c : appId.substr(1)) out.push_back(c == '/' ? '_' : c);
  return out;
}

// Marathon's instance condition for a task state (instance_changed_event).
std::string_view instanceCondition(TaskState state) {
  switch (state) {
    case TaskState::kStaging:
      return "Staging";
    case TaskState::kStarting:
      return "Starting";
    case TaskState::kRunning:
      return "Running";
    case TaskState::kKilling:
      return "Killing";
    case TaskState::kFinished:
      return "Finished";
    case TaskState::kFailed:
      return "Failed";
    case TaskState::kKilled:
      return "Killed";
    case TaskState::kLost:
      return "Lost";
    case TaskState::kError:
      return "Error";
    case TaskState::kDropped:
      return "Dropped";
    case TaskState::kGone:
      return "Gone";
    case TaskState::kGoneByOperator:
      return "GoneByOperator";
    case TaskState::kUnreachable:
      return "Unreachable";
    case TaskState::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

// Killed (or being killed) by its agent because its health checks failed:
// decided on the typed reason the agent sends, never on the message text.
bool isHealthKill(const TaskRecord& t) {
  return (t.state == TaskState::kKilling || t.state == TaskState::kKilled) &&
         t.reason == TaskReason::kTaskHealthCheckStatusUpdated;
}

std::string appKey(const std::string& id) { return "/apps" + id; }

metrics::Counter& commitFailures() {
  static auto& c = metrics::global().counter(
      "corral_scheduler_state_commit_failures_total",
      "Scheduler changes refused because the state store could not persist them.");
  return c;
}

metrics::Counter& launchedCounter() {
  static auto& c = metrics::global().counter("corral_scheduler_tasks_launched_total",
                                             "Tasks launched by the service scheduler.");
  return c;
}

}  // namespace

ServiceScheduler::ServiceScheduler(Loop& loop, state::StateStore& store, events::EventBus& bus,
                                   SchedulerOptions options)
    : loop_(loop), store_(store), bus_(bus), options_(options), reconcileTimer_(loop) {
  metrics::global().gaugeFn(
      "corral_scheduler_apps", "Apps defined.",
      [this] { return static_cast<double>(apps_.size()); }, "", this);
  metrics::global().gaugeFn(
      "corral_scheduler_deployments", "Deployments in progress.",
      [this] { return static_cast<double>(deployments_.size()); }, "", this);
}

ServiceScheduler::~ServiceScheduler() { metrics::global().removeOwner(this); }

Status ServiceScheduler::recover(const state::StateMap& state) {
  for (const auto& [key, value] : state) {
    if (key.rfind("/apps/", 0) == 0) {
      auto def = conf::parseAppDefinition(value.at("definition"));
      if (!def.ok())
        return makeError(def.error().kind, "cannot recover " + key + ": " + def.error().message);
      AppState a;
      a.def = *def;
      a.lastConfigChangeAt = value.value("lastConfigChangeAt", "");
      a.lastScalingAt = value.value("lastScalingAt", "");
      a.versions = value.value("versions", std::vector<std::string>{});
      apps_[a.def.id] = std::move(a);
    } else if (key.rfind("/appversions/", 0) == 0) {
      auto def = conf::parseAppDefinition(value);
      if (def.ok() && def->version) versionCache_[def->id + "@" + *def->version] = *def;
    } else if (key.rfind("/deployments/", 0) == 0) {
      Deployment d;
      d.id = value.value("id", "");
      d.version = value.value("version", "");
      d.appId = value.value("appId", "");
      d.action = value.value("action", "");
      d.startedMs = value.value("startedMs", int64_t{0});
      putDeployment(d);
    }
  }
  log::info("recovered {} apps and {} deployments", apps_.size(), deployments_.size());
  return Status::Ok();
}

void ServiceScheduler::start() {
  reconcileTimer_.start(options_.reconcileIntervalMs, options_.reconcileIntervalMs, [this] {
    checkReadiness();
    reconcile();
  });
}

const AppState* ServiceScheduler::app(const std::string& id) const {
  auto it = apps_.find(id);
  return it == apps_.end() ? nullptr : &it->second;
}

std::string ServiceScheduler::newVersion() {
  int64_t ms = wallMs();
  std::string v = isoTime(ms);
  // Versions must be unique and increasing even within one millisecond.
  while (v <= lastVersion_) v = isoTime(++ms);
  lastVersion_ = v;
  return v;
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
  auto it = apps_.find(t.appId);
  if (it == apps_.end()) return true;
  const auto& def = it->second.def;
  if (!def.healthChecks.empty() && !t.healthy.value_or(false)) return false;
  // Readiness (Marathon's readinessChecks): a replacement counts only once ready.
  return def.readinessChecks.empty() || ready_.count(t.id) > 0;
}

void ServiceScheduler::checkReadiness() {
  int64_t now = wallMs();
  for (const auto& [appId, app] : apps_) {
    if (app.def.readinessChecks.empty()) continue;
    const auto& rc = app.def.readinessChecks.front();
    size_t portIndex = 0;
    for (size_t i = 0; i < app.def.portDefinitions.size(); ++i) {
      if (app.def.portDefinitions[i].name.value_or("") == rc.portName) portIndex = i;
    }
    for (const auto* t : tasksOf(appId)) {
      if (t->state != TaskState::kRunning || ready_.count(t->id) || readinessInFlight_.count(t->id))
        continue;
      auto due = readinessDue_.find(t->id);
      if (due != readinessDue_.end() && due->second > now) continue;
      if (portIndex >= t->ports.size()) continue;
      readinessInFlight_.insert(t->id);
      readinessDue_[t->id] = now + rc.intervalSeconds * 1000;
      http::Request req;
      req.target = rc.path;
      std::string id = t->id;
      std::vector<int> codes = rc.httpStatusCodesForReady;
      std::string name = rc.name;
      uint64_t key = readinessChecks_.nextKey();
      readinessChecks_.add(
          key,
          http::fetch(
              loop_, t->host, t->ports[portIndex], std::move(req),
              [this, key, id, appId = std::string(appId), codes, name](Result<http::Response> r) {
                readinessChecks_.done(key);
                readinessInFlight_.erase(id);
                if (!r.ok()) return;
                if (std::find(codes.begin(), codes.end(), r->status) == codes.end()) return;
                ready_.insert(id);
                readinessDue_.erase(id);
                log::info("task {} is ready ({} answered {})", id, name, r->status);
                reconcileOne(appId);
              },
              http::ClientOptions{.timeoutMs = static_cast<uint64_t>(rc.timeoutSeconds) * 1000}));
    }
  }
}

bool ServiceScheduler::isCurrent(const AppState& app, const TaskRecord& t) const {
  return t.version >= app.lastConfigChangeAt;
}

std::vector<state::Mutation> ServiceScheduler::appMutations(const AppState& app,
                                                            bool newVersionEntry) const {
  Json v;
  v["definition"] = conf::toMarathonJson(app.def);
  v["lastConfigChangeAt"] = app.lastConfigChangeAt;
  v["lastScalingAt"] = app.lastScalingAt;
  v["versions"] = app.versions;
  std::vector<state::Mutation> batch{state::Mutation::put(appKey(app.def.id), v)};
  if (newVersionEntry) {
    batch.push_back(state::Mutation::put("/appversions" + app.def.id + "/" + *app.def.version,
                                         conf::toMarathonJson(app.def)));
  }
  return batch;
}

Status ServiceScheduler::commitWithDeployment(std::vector<state::Mutation> batch,
                                              const DeploymentPlan& plan) {
  batch.insert(batch.end(), plan.mutations.begin(), plan.mutations.end());
  Status st = store_.commit(batch);
  if (!st.ok()) commitFailures().inc();
  return st;
}

Result<conf::AppDefinition> ServiceScheduler::appVersion(const std::string& id,
                                                         const std::string& version) const {
  auto it = apps_.find(id);
  if (it == apps_.end()) return makeError(ErrorKind::kNotFound, "App '" + id + "' does not exist");
  if (it->second.def.version && *it->second.def.version == version) return it->second.def;
  auto found = versionCache_.find(id + "@" + version);
  if (found != versionCache_.end()) return found->second;
  return makeError(ErrorKind::kNotFound,
                   "Version '" + version + "' of app '" + id + "' does not exist");
}

Result<conf::AppDefinition> ServiceScheduler::assignServicePorts(conf::AppDefinition def,
                                                                 const std::string& skipApp) {
  std::set<int> used;
  for (const auto& [id, a] : apps_) {
    if (id == skipApp) continue;
    for (const auto& pd : a.def.portDefinitions) used.insert(pd.port);
  }
  std::set<int> own;
  for (auto& pd : def.portDefinitions) {
    if (pd.port == 0) continue;
    if (used.count(pd.port) && pd.port >= options_.servicePortMin &&
        pd.port <= options_.servicePortMax) {
      return makeError(ErrorKind::kInvalid, "service port " + std::to_string(pd.port) +
                                                " is already used by another app");
    }
    own.insert(pd.port);
  }
  int next = options_.servicePortMin;
  for (auto& pd : def.portDefinitions) {
    if (pd.port != 0) continue;
    while (next <= options_.servicePortMax && (used.count(next) || own.count(next))) ++next;
    if (next > options_.servicePortMax) {
      return makeError(ErrorKind::kInvalid, "no free service port left in " +
                                                std::to_string(options_.servicePortMin) + "-" +
                                                std::to_string(options_.servicePortMax));
    }
    pd.port = next;
    own.insert(next++);
  }
  return def;
}

ServiceScheduler::DeploymentPlan ServiceScheduler::planDeployment(
    const std::string& appId, const std::string& action, const std::string& version) const {
  DeploymentPlan plan;
  // One deployment per app: a forced change supersedes the running one.
  if (const Deployment* running = deploymentOf(appId)) {
    plan.superseded.push_back(running->id);
    plan.mutations.push_back(state::Mutation::del("/deployments/" + running->id));
  }
  Deployment& d = plan.deployment;
  d = Deployment{uuid4(), version, appId, action, wallMs()};
  Json j;
  j["id"] = d.id;
  j["version"] = d.version;
  j["appId"] = d.appId;
  j["action"] = d.action;
  j["startedMs"] = d.startedMs;
  plan.mutations.push_back(state::Mutation::put("/deployments/" + d.id, j));
  return plan;
}

std::string ServiceScheduler::startDeployment(const DeploymentPlan& plan) {
  for (const auto& id : plan.superseded) eraseDeployment(id);
  const Deployment& d = plan.deployment;
  const std::string& appId = d.appId;
  const std::string& action = d.action;
  putDeployment(d);
  Json ev;
  ev["plan"] = deploymentJson(d);
  ev["currentStep"] = deploymentJson(d)["steps"][0];
  bus_.publish("deployment_info", ev);
  log::info("deployment {} started: {} {}", d.id, action, appId);
  if (driver_) driver_->reviveOffers();
  return d.id;
}

Result<ChangeResult> ServiceScheduler::conflictCheck(const std::string& appId, bool force) {
  if (force) return ChangeResult{};
  if (const Deployment* d = deploymentOf(appId)) {
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
  if (apps_.count(def->id)) {
    return makeError(ErrorKind::kConflict, "An app with id [" + def->id + "] already exists.");
  }
  for (const auto& [id, a] : apps_) {
    if (id.rfind(def->id + "/", 0) == 0) {
      return makeError(ErrorKind::kConflict, "A group with id [" + def->id + "] already exists.");
    }
    if (def->id.rfind(id + "/", 0) == 0) {
      return makeError(ErrorKind::kConflict,
                       "The path " + id + " is an app and cannot contain " + def->id + ".");
    }
  }
  auto withPorts = assignServicePorts(*def, "");
  if (!withPorts.ok()) return withPorts.error();
  AppState a;
  a.def = std::move(*withPorts);
  std::string v = newVersion();
  a.def.version = v;
  a.lastConfigChangeAt = v;
  a.lastScalingAt = v;
  a.versions.push_back(v);
  DeploymentPlan plan = planDeployment(a.def.id, "StartApplication", v);
  if (Status st = commitWithDeployment(appMutations(a, true), plan); !st.ok()) {
    return makeError(ErrorKind::kUnavailable, "cannot persist app: " + st.error().message);
  }
  versionCache_[a.def.id + "@" + v] = a.def;
  std::string id = a.def.id;
  apps_[id] = std::move(a);
  Json ev;
  ev["clientIp"] = "";
  ev["uri"] = "/v2/apps" + id;
  ev["appDefinition"] = appJson(apps_[id], false, false, false);
  bus_.publish("api_post_event", ev);
  ChangeResult r;
  r.version = v;
  r.deploymentId = startDeployment(plan);
  r.app = appJson(apps_[id], false, true, false);
  log::info("app {} created: {} instance(s)", id, apps_[id].def.instances);
  reconcileOne(id);
  return r;
}

Result<ChangeResult> ServiceScheduler::updateApp(const std::string& rawId, const Json& patch,
                                                 bool force) {
  auto idr = conf::resolveAppId(rawId);
  if (!idr.ok()) return makeError(ErrorKind::kInvalid, idr.error().message);
  std::string id = *idr;
  auto it = apps_.find(id);
  if (it == apps_.end()) {
    // Marathon creates the app on PUT when it does not exist.
    Json body = patch;
    if (!body.is_object())
      return makeError(ErrorKind::kInvalid, "app definition must be a JSON object");
    body["id"] = id;
    auto r = createApp(body);
    if (!r.ok()) return r.error();
    return r;
  }
  if (auto c = conflictCheck(id, force); !c.ok()) return c.error();
  AppState& a = it->second;
  auto updated = conf::applyAppPatch(a.def, patch);
  if (!updated.ok()) {
    Error e = updated.error();
    e.kind = ErrorKind::kInvalid;
    return e;
  }
  auto withPorts = assignServicePorts(*updated, id);
  if (!withPorts.ok()) return withPorts.error();
  conf::AppDefinition next = std::move(*withPorts);
  conf::AppDefinition cmpOld = a.def, cmpNew = next;
  cmpOld.version.reset();
  cmpNew.version.reset();
  cmpOld.instances = cmpNew.instances = 0;
  bool configChanged = !(cmpOld == cmpNew);
  bool scaled = next.instances != a.def.instances;
  std::string v = newVersion();
  next.version = v;
  AppState backup = a;
  a.def = next;
  if (configChanged) a.lastConfigChangeAt = v;
  if (scaled || configChanged) a.lastScalingAt = v;
  a.versions.push_back(v);
  a.failuresInRow = 0;
  a.delayUntilMs = 0;
  DeploymentPlan plan =
      planDeployment(id, configChanged ? "RestartApplication" : "ScaleApplication", v);
  if (Status st = commitWithDeployment(appMutations(a, true), plan); !st.ok()) {
    a = backup;
    return makeError(ErrorKind::kUnavailable, "cannot persist app: " + st.error().message);
  }
  versionCache_[id + "@" + v] = a.def;
  Json ev;
  ev["clientIp"] = "";
  ev["uri"] = "/v2/apps" + id;
  ev["appDefinition"] = appJson(a, false, false, false);
  bus_.publish("api_post_event", ev);
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
  auto it = apps_.find(*idr);
  if (it == apps_.end())
    return makeError(ErrorKind::kNotFound, "App '" + *idr + "' does not exist");
  if (auto c = conflictCheck(*idr, force); !c.ok()) return c.error();
  AppState& a = it->second;
  AppState backup = a;
  std::string v = newVersion();
  a.def.version = v;
  a.lastConfigChangeAt = v;
  a.versions.push_back(v);
  DeploymentPlan plan = planDeployment(a.def.id, "RestartApplication", v);
  if (Status st = commitWithDeployment(appMutations(a, true), plan); !st.ok()) {
    a = backup;  // not durable: nothing changed
    return makeError(ErrorKind::kUnavailable, "cannot persist app: " + st.error().message);
  }
  versionCache_[a.def.id + "@" + v] = a.def;
  ChangeResult r;
  r.version = v;
  r.deploymentId = startDeployment(plan);
  log::info("app {} restart: rolling replacement to version {}", a.def.id, v);
  reconcileOne(std::string(a.def.id));
  return r;
}

Result<ChangeResult> ServiceScheduler::deleteApp(const std::string& rawId, bool force) {
  auto idr = conf::resolveAppId(rawId);
  if (!idr.ok()) return makeError(ErrorKind::kInvalid, idr.error().message);
  std::string id = *idr;
  auto it = apps_.find(id);
  if (it == apps_.end()) return makeError(ErrorKind::kNotFound, "App '" + id + "' does not exist");
  if (auto c = conflictCheck(id, force); !c.ok()) return c.error();
  std::vector<state::Mutation> batch{state::Mutation::del(appKey(id))};
  for (const auto& v : it->second.versions) {
    batch.push_back(state::Mutation::del("/appversions" + id + "/" + v));
  }
  std::string v = newVersion();
  DeploymentPlan plan = planDeployment(id, "StopApplication", v);
  if (Status st = commitWithDeployment(std::move(batch), plan); !st.ok()) {
    return makeError(ErrorKind::kUnavailable, "cannot persist deletion: " + st.error().message);
  }
  apps_.erase(it);
  for (auto vit = versionCache_.begin(); vit != versionCache_.end();) {
    vit = vit->first.rfind(id + "@", 0) == 0 ? versionCache_.erase(vit) : std::next(vit);
  }
  ChangeResult r;
  r.version = v;
  r.deploymentId = startDeployment(plan);
  for (const auto* t : tasksOf(id)) {
    killing_.insert(t->id);
    driver_->killTask(t->id, std::nullopt);
  }
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
  r.version = newVersion();
  std::optional<Error> failed;
  std::set<std::string> scaled;
  if (scale) {
    for (const auto& [appId, n] : perApp) {
      auto it = apps_.find(appId);
      if (it == apps_.end()) continue;
      Json patch;
      patch["instances"] = std::max(0, it->second.def.instances - n);
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
    killing_.insert(tid);
    driver_->killTask(tid, std::nullopt);
  }
  (void)wipe;  // no resident tasks: a wiped task is simply expunged when terminal
  if (failed) return *failed;
  return r;
}

Result<ChangeResult> ServiceScheduler::cancelDeployment(const std::string& id, bool force) {
  auto it = deployments_.find(id);
  if (it == deployments_.end())
    return makeError(ErrorKind::kNotFound, "DeploymentPlan " + id + " does not exist");
  Deployment d = it->second;
  auto failed = [&] {
    Json ev;
    ev["id"] = d.id;
    ev["plan"] = deploymentJson(d);
    bus_.publish("deployment_failed", ev);
  };
  // Without force: roll back by deploying the previous version of the app.
  // The rollback's deployment supersedes this one in the same commit.
  const conf::AppDefinition* previous = nullptr;
  auto a = apps_.find(d.appId);
  if (!force && a != apps_.end() && a->second.versions.size() >= 2) {
    const std::string& prev = a->second.versions[a->second.versions.size() - 2];
    auto pv = versionCache_.find(d.appId + "@" + prev);
    if (pv != versionCache_.end()) previous = &pv->second;
  }
  if (previous) {
    Json patch = conf::toMarathonJson(*previous);
    patch.erase("version");
    auto u = updateApp(d.appId, patch, true);
    if (!u.ok()) return u.error();
    failed();
    return u;
  }
  if (Status st = store_.commit({state::Mutation::del("/deployments/" + id)}); !st.ok()) {
    commitFailures().inc();
    return makeError(ErrorKind::kUnavailable,
                     "cannot persist the cancellation: " + st.error().message);
  }
  eraseDeployment(id);
  failed();
  ChangeResult r;
  r.version = newVersion();
  return r;
}

Status ServiceScheduler::resetDelay(const std::string& rawId) {
  auto idr = conf::resolveAppId(rawId);
  if (!idr.ok()) return makeError(ErrorKind::kNotFound, "App '" + rawId + "' does not exist");
  auto it = apps_.find(*idr);
  if (it == apps_.end())
    return makeError(ErrorKind::kNotFound, "App '" + *idr + "' does not exist");
  it->second.delayUntilMs = 0;
  it->second.failuresInRow = 0;
  log::info("app {}: launch delay reset", *idr);
  reconcileOne(*idr);
  return Status::Ok();
}

Json ServiceScheduler::launchPayload(const AppState& app, const std::vector<int>&) const {
  const auto& d = app.def;
  Json j;
  if (d.cmd) j["cmd"] = *d.cmd;
  if (d.args) j["args"] = *d.args;
  j["env"] = d.env;
  Json names = Json::array();
  for (const auto& pd : d.portDefinitions) names.push_back(pd.name.value_or(""));
  j["portNames"] = names;
  Json fetch = Json::array();
  for (const auto& f : d.fetch) {
    Json e;
    e["uri"] = f.uri;
    e["extract"] = f.extract;
    e["executable"] = f.executable;
    if (f.destPath) e["destPath"] = *f.destPath;
    fetch.push_back(e);
  }
  j["fetch"] = fetch;
  Json checks = Json::array();
  for (const auto& hc : d.healthChecks) {
    Json c;
    using P = conf::HealthCheckProtocol;
    switch (hc.protocol) {
      case P::kHttp:
      case P::kMesosHttp:
        c["protocol"] = "HTTP";
        break;
      case P::kHttps:
      case P::kMesosHttps:
        c["protocol"] = "HTTPS";
        break;
      case P::kTcp:
      case P::kMesosTcp:
        c["protocol"] = "TCP";
        break;
      case P::kCommand:
        c["protocol"] = "COMMAND";
        break;
    }
    c["path"] = hc.path.value_or("/");
    c["portIndex"] = hc.portIndex.value_or(0);
    if (hc.port) c["port"] = *hc.port;
    if (hc.command) c["command"] = *hc.command;
    c["gracePeriodSeconds"] = hc.gracePeriodSeconds;
    c["intervalSeconds"] = hc.intervalSeconds;
    c["timeoutSeconds"] = hc.timeoutSeconds;
    c["maxConsecutiveFailures"] = hc.maxConsecutiveFailures;
    c["delaySeconds"] = hc.delaySeconds;
    c["ignoreHttp1xx"] = hc.ignoreHttp1xx;
    checks.push_back(c);
  }
  j["healthChecks"] = checks;
  if (d.taskKillGracePeriodSeconds) j["killGracePeriodSeconds"] = *d.taskKillGracePeriodSeconds;
  return j;
}

void ServiceScheduler::resourceOffers(const std::vector<master::Offer>& offers) {
  int64_t now = wallMs();
  // Placement state: where each app's tasks are, for constraints.
  std::map<std::string, std::vector<conf::AgentInfo>> placed;
  std::vector<std::string> allHostnames;
  std::map<std::string, conf::AgentInfo> agentInfo;
  for (const auto* a : driver_->agents()) {
    agentInfo[a->id] = conf::AgentInfo{a->hostname, a->attributes};
  }
  for (const auto* t : tasksOf("")) {
    if (!conf::isActive(t->state) || t->killRequested) continue;
    auto ai = agentInfo.find(t->agentId);
    if (ai != agentInfo.end()) placed[t->appId].push_back(ai->second);
  }
  std::vector<conf::AgentInfo> everyAgent;
  for (const auto& [id, ai] : agentInfo) everyAgent.push_back(ai);

  // Each app's instances go round-robin over the offers (one per offer per
  // pass), so they spread over the agents instead of filling the first one.
  struct OfferState {
    const master::Offer* offer;
    double cpus, mem, disk;
    conf::Ranges ports;
    conf::AgentInfo candidate;
    std::vector<master::TaskLaunchSpec> specs;
  };
  std::vector<OfferState> states;
  for (const auto& o : offers) {
    states.push_back(OfferState{&o,
                                o.resources.cpus(),
                                o.resources.mem(),
                                o.resources.disk(),
                                o.resources.ports(),
                                conf::AgentInfo{o.hostname, o.attributes},
                                {}});
  }
  // Places one instance of app on the offer, or says why it cannot.
  auto place = [&](const std::string& appId, AppState& app, OfferState& st) {
    const auto& d = app.def;
    if (static_cast<int>(st.specs.size()) >= options_.maxTasksPerOffer) return false;
    const std::string& host = st.offer->hostname;
    if (st.cpus + 1e-9 < d.cpus || st.mem + 1e-9 < d.mem || st.disk + 1e-9 < d.disk) {
      app.waitingReason = "insufficient resources on " + host + " (needs cpus " +
                          fmt::format("{}", d.cpus) + ", mem " + fmt::format("{}", d.mem) +
                          "; has cpus " + fmt::format("{}", st.cpus) + ", mem " +
                          fmt::format("{}", st.mem) + ")";
      return false;
    }
    Status cs = conf::checkConstraints(d.constraints, st.candidate, placed[appId], everyAgent);
    if (!cs.ok()) {
      app.waitingReason = cs.error().message;
      return false;
    }
    std::vector<int> taskPorts;
    conf::Ranges trial = st.ports;
    if (d.requirePorts) {
      for (const auto& pd : d.portDefinitions) {
        if (!trial.take(static_cast<uint64_t>(pd.port))) {
          app.waitingReason = "service port " + std::to_string(pd.port) + " is not free on " + host;
          return false;
        }
        taskPorts.push_back(pd.port);
      }
    } else if (!d.portDefinitions.empty()) {
      auto got = trial.allocate(d.portDefinitions.size());
      if (!got.ok()) {
        app.waitingReason = "not enough free ports on " + host;
        return false;
      }
      for (auto p : *got) taskPorts.push_back(static_cast<int>(p));
    }
    st.ports = trial;
    st.cpus -= d.cpus;
    st.mem -= d.mem;
    st.disk -= d.disk;
    master::TaskLaunchSpec spec;
    spec.taskId = taskIdPrefix(appId) + "." + uuid4();
    spec.appId = appId;
    spec.version = *d.version;
    spec.cpus = d.cpus;
    spec.mem = d.mem;
    spec.disk = d.disk;
    spec.ports = taskPorts;
    for (const auto& pd : d.portDefinitions) spec.servicePorts.push_back(pd.port);
    spec.launch = launchPayload(app, taskPorts);
    st.specs.push_back(std::move(spec));
    placed[appId].push_back(st.candidate);
    return true;
  };
  size_t start = states.empty() ? 0 : rotation_++ % states.size();
  for (auto& [appId, app] : apps_) {
    int& need = needed_[appId];
    if (need <= 0 || states.empty()) continue;
    if (app.delayUntilMs > now) {
      app.waitingReason = "backing off after task failures";
      continue;
    }
    bool progress = true;
    while (need > 0 && progress) {
      progress = false;
      for (size_t k = 0; k < states.size() && need > 0; ++k) {
        if (place(appId, app, states[(start + k) % states.size()])) {
          --need;
          progress = true;
        }
      }
    }
    if (need == 0) app.waitingReason.clear();
  }
  for (auto& st : states) {
    if (st.specs.empty()) {
      driver_->declineOffer(st.offer->id, 1.0);
      continue;
    }
    auto r = driver_->acceptOffer(st.offer->id, st.specs);
    if (!r.ok() || !*r) {
      log::warn("offer {} not accepted: {}", st.offer->id,
                r.ok() ? "offer gone" : r.error().message);
      continue;
    }
    launchedCounter().inc(static_cast<double>(st.specs.size()));
  }
  // A stuck deployment says why, once per change of reason.
  for (auto& [appId, app] : apps_) {
    auto n = needed_.find(appId);
    std::string reason = n != needed_.end() && n->second > 0 ? app.waitingReason : "";
    if (reason == announcedWaiting_[appId]) continue;
    announcedWaiting_[appId] = reason;
    if (reason.empty()) continue;
    log::info("app {}: {} instance(s) waiting: {}", appId, n->second, reason);
    Json ev;
    ev["appId"] = appId;
    ev["count"] = n->second;
    ev["reason"] = reason;
    bus_.publish("launch_queue_waiting_event", ev);
  }
}

void ServiceScheduler::publishStatusEvents(const TaskRecord& t, TaskState prevState,
                                           std::optional<bool> prevHealthy) {
  if (t.state != prevState) {
    Json ev;
    ev["slaveId"] = t.agentId;
    ev["taskId"] = t.id;
    ev["taskStatus"] = std::string(conf::toString(t.state));
    ev["message"] = t.message;
    ev["appId"] = t.appId;
    ev["host"] = t.host;
    ev["ipAddresses"] = Json::array({Json{{"ipAddress", t.host}, {"protocol", "IPv4"}}});
    ev["ports"] = t.ports;
    ev["version"] = t.version;
    bus_.publish("status_update_event", ev);
    Json ic;
    ic["instanceId"] = t.id;
    ic["condition"] = std::string(instanceCondition(t.state));
    ic["runSpecId"] = t.appId;
    ic["agentId"] = t.agentId;
    ic["host"] = t.host;
    ic["runSpecVersion"] = t.version;
    bus_.publish("instance_changed_event", ic);
  }
  if (t.healthy != prevHealthy && t.healthy.has_value()) {
    Json h;
    h["appId"] = t.appId;
    h["taskId"] = t.id;
    h["instanceId"] = t.id;
    h["version"] = t.version;
    h["alive"] = *t.healthy;
    bus_.publish("health_status_changed_event", h);
    Json ih;
    ih["instanceId"] = t.id;
    ih["runSpecId"] = t.appId;
    ih["runSpecVersion"] = t.version;
    ih["healthy"] = *t.healthy;
    bus_.publish("instance_health_changed_event", ih);
  }
  if (t.healthy.has_value() && !*t.healthy && t.state == TaskState::kRunning) {
    Json f;
    f["appId"] = t.appId;
    f["taskId"] = t.id;
    f["instanceId"] = t.id;
    f["version"] = t.version;
    Json hc = Json::object();
    auto a = apps_.find(t.appId);
    if (a != apps_.end() && !a->second.def.healthChecks.empty()) {
      hc = conf::toMarathonJson(a->second.def)["healthChecks"][0];
    }
    f["healthCheck"] = hc;
    bus_.publish("failed_health_check_event", f);
  }
}

void ServiceScheduler::statusUpdate(const TaskRecord& t, TaskState prevState,
                                    std::optional<bool> prevHealthy) {
  publishStatusEvents(t, prevState, prevHealthy);
  auto a = apps_.find(t.appId);
  // The agent killed it for failing its health checks (not a kill we asked for).
  bool unhealthyKill = isHealthKill(t) && !killing_.count(t.id);
  if (unhealthyKill && a != apps_.end() && t.state == TaskState::kKilled) {
    Json ev;
    ev["appId"] = t.appId;
    ev["taskId"] = t.id;
    ev["instanceId"] = t.id;
    ev["version"] = t.version;
    ev["reason"] = t.message;
    ev["host"] = t.host;
    ev["slaveId"] = t.agentId;
    bus_.publish("unhealthy_instance_kill_event", ev);
  }
  if (a != apps_.end()) {
    AppState& app = a->second;
    bool failure = (t.state == TaskState::kFailed || t.state == TaskState::kError ||
                    t.state == TaskState::kLost || t.state == TaskState::kDropped ||
                    t.state == TaskState::kFinished || unhealthyKill) &&
                   !killing_.count(t.id) && !t.killRequested;
    if (failure && conf::isTerminal(t.state)) {
      app.failuresInRow++;
      double delay =
          app.def.backoffSeconds * std::pow(app.def.backoffFactor, app.failuresInRow - 1);
      delay = std::min(delay, static_cast<double>(app.def.maxLaunchDelaySeconds));
      app.delayUntilMs = wallMs() + static_cast<int64_t>(delay * 1000);
      Json f;
      f["appId"] = t.appId;
      f["host"] = t.host;
      f["message"] = t.message;
      f["state"] = std::string(conf::toString(t.state));
      f["taskId"] = t.id;
      f["timestamp"] = isoNow();
      f["version"] = t.version;
      f["slaveId"] = t.agentId;
      app.lastTaskFailure = f;
      log::info("app {}: task {} {} ({}); next launch in {:.1f}s", t.appId, t.id,
                conf::toString(t.state), t.message, delay);
    }
    if (taskHealthy(t)) app.failuresInRow = 0;
  }
  if (conf::isTerminal(t.state)) {
    killing_.erase(t.id);
    ready_.erase(t.id);
    readinessDue_.erase(t.id);
    std::string id = t.id;
    std::string appId = t.appId;
    // Forget it after this callback returns (never delete inside a callback).
    loop_.post([this, id, appId] {
      if (driver_) driver_->expungeTask(id);
      reconcileOne(appId);
    });
  } else {
    // A status update costs what its app has, not what every app has.
    reconcileOne(t.appId);
  }
}

void ServiceScheduler::killForApp(AppState& app, size_t count, bool onlyOld) {
  auto tasks = tasksOf(app.def.id);
  std::vector<const TaskRecord*> candidates;
  for (const auto* t : tasks) {
    if (killing_.count(t->id) || t->killRequested || !conf::isActive(t->state)) continue;
    if (onlyOld && isCurrent(app, *t)) continue;
    candidates.push_back(t);
  }
  // Unhealthy and not-yet-running tasks go first, then by kill selection.
  bool youngestFirst = app.def.killSelection == conf::KillSelection::kYoungestFirst;
  std::stable_sort(candidates.begin(), candidates.end(), [&](auto* a, auto* b) {
    bool ha = taskHealthy(*a), hb = taskHealthy(*b);
    if (ha != hb) return !ha;
    return youngestFirst ? a->stagedAtMs > b->stagedAtMs : a->stagedAtMs < b->stagedAtMs;
  });
  for (size_t i = 0; i < candidates.size() && i < count; ++i) {
    killing_.insert(candidates[i]->id);
    std::optional<double> grace;
    if (app.def.taskKillGracePeriodSeconds) grace = *app.def.taskKillGracePeriodSeconds;
    driver_->killTask(candidates[i]->id, grace);
  }
}

void ServiceScheduler::reconcileApp(AppState& app) {
  auto tasks = tasksOf(app.def.id);
  std::vector<const TaskRecord*> live, current, old;
  for (const auto* t : tasks) {
    if (!conf::isActive(t->state) || t->killRequested || killing_.count(t->id)) continue;
    live.push_back(t);
    (isCurrent(app, *t) ? current : old).push_back(t);
  }
  // Tasks asked to stop are still up until their kill is confirmed: they
  // count towards the maximum (they hold resources), not towards health.
  int stopping = 0;
  bool oldStopping = false;
  for (const auto* t : tasks) {
    if (!conf::isActive(t->state) || !(t->killRequested || killing_.count(t->id))) continue;
    ++stopping;
    oldStopping |= !isCurrent(app, *t);
  }
  int target = app.def.instances;
  int need = 0;
  if (!old.empty() || oldStopping) {
    // Rolling replacement honouring the upgrade strategy (until the last old task is gone).
    double mhc = app.def.upgradeStrategy.minimumHealthCapacity;
    double moc = app.def.upgradeStrategy.maximumOverCapacity;
    int minHealthy = static_cast<int>(std::ceil(target * mhc - 1e-9));
    int maxTotal = target + static_cast<int>(std::floor(target * moc + 1e-9));
    // With no room over capacity and full health required nothing could move: allow one extra.
    if (maxTotal <= target && minHealthy >= target) maxTotal = target + 1;
    int healthy = 0;
    for (const auto* t : live) healthy += taskHealthy(*t);
    int currentHealthy = 0;
    for (const auto* t : current) currentHealthy += taskHealthy(*t);
    int total = static_cast<int>(current.size() + old.size()) + stopping;
    // No room to start a new instance: old ones make room, down to the minimum healthy.
    bool noRoom = total >= maxTotal;
    // Kill old tasks while enough healthy ones remain.
    std::vector<const TaskRecord*> oldSorted = old;
    std::stable_sort(oldSorted.begin(), oldSorted.end(),
                     [&](auto* a, auto* b) { return taskHealthy(*a) < taskHealthy(*b); });
    int excess = static_cast<int>(current.size() + old.size()) - target;
    for (const auto* t : oldSorted) {
      bool h = taskHealthy(*t);
      bool keepsCapacity = !h || healthy - 1 >= minHealthy;
      // Only kill when over target, when new healthy ones can take its place, or
      // when there is no room to start new ones.
      bool replaceable = excess > 0 || currentHealthy >= target || !h || noRoom;
      if (!keepsCapacity || !replaceable) continue;
      killing_.insert(t->id);
      std::optional<double> grace;
      if (app.def.taskKillGracePeriodSeconds) grace = *app.def.taskKillGracePeriodSeconds;
      driver_->killTask(t->id, grace);
      healthy -= h;
      --excess;
    }
    need = std::max(0, std::min(target - static_cast<int>(current.size()), maxTotal - total));
  } else if (static_cast<int>(live.size()) < target) {
    need = target - static_cast<int>(live.size());
  } else if (static_cast<int>(live.size()) > target) {
    killForApp(app, live.size() - static_cast<size_t>(target), false);
  }
  if (need > 0 && needed_[app.def.id] <= 0) app.queuedSinceMs = wallMs();
  needed_[app.def.id] = need;
  if (need > 0 && driver_) driver_->reviveOffers();
}

void ServiceScheduler::finishDeploymentIfDone(AppState& app) {
  if (const Deployment* running = deploymentOf(app.def.id)) {
    auto tasks = tasksOf(app.def.id);
    int healthyCurrent = 0;
    bool pending = false;
    for (const auto* t : tasks) {
      if (!isCurrent(app, *t) || killing_.count(t->id) || t->killRequested) {
        pending = true;
        continue;
      }
      if (conf::isActive(t->state)) {
        if (taskHealthy(*t))
          ++healthyCurrent;
        else
          pending = true;
      }
    }
    if (pending || healthyCurrent != app.def.instances) return;
    Deployment d = *running;
    if (Status st = store_.commit({state::Mutation::del("/deployments/" + d.id)}); !st.ok()) {
      // Still in progress as far as anyone can tell; the next reconcile tries again.
      commitFailures().inc();
      log::error("deployment {} of {} is done but cannot be persisted as done: {}", d.id, d.appId,
                 st.error().message);
      return;
    }
    eraseDeployment(d.id);
    Json step;
    step["plan"] = deploymentJson(d);
    step["currentStep"] = deploymentJson(d)["steps"][0];
    bus_.publish("deployment_step_success", step);
    Json ev;
    ev["id"] = d.id;
    ev["plan"] = deploymentJson(d);
    bus_.publish("deployment_success", ev);
    log::info("deployment {} of {} succeeded ({} healthy)", d.id, d.appId, healthyCurrent);
    return;
  }
}

void ServiceScheduler::reconcile() {
  if (!driver_) return;
  for (auto& [id, app] : apps_) {
    reconcileApp(app);
    finishDeploymentIfDone(app);
  }
  // Stop deployments of deleted apps finish when their tasks are gone.
  std::vector<std::string> deleted;
  for (const auto& [appId, deploymentId] : deploymentByApp_) {
    if (!apps_.count(appId)) deleted.push_back(appId);
  }
  for (const auto& appId : deleted) finishStopIfDone(appId);
  // Kill tasks of apps that no longer exist (e.g. after a restart mid-deletion).
  for (const auto* t : tasksOf("")) {
    if (!apps_.count(t->appId) && !killing_.count(t->id) && conf::isActive(t->state)) {
      killing_.insert(t->id);
      driver_->killTask(t->id, std::nullopt);
    }
  }
}

void ServiceScheduler::reconcileOne(const std::string& appId) {
  if (!driver_) return;
  auto it = apps_.find(appId);
  if (it == apps_.end()) return finishStopIfDone(appId);
  reconcileApp(it->second);
  finishDeploymentIfDone(it->second);
}

void ServiceScheduler::finishStopIfDone(const std::string& appId) {
  const Deployment* running = deploymentOf(appId);
  if (!running || apps_.count(appId) || !tasksOf(appId).empty()) return;
  needed_.erase(appId);
  Deployment done = *running;
  if (Status st = store_.commit({state::Mutation::del("/deployments/" + done.id)}); !st.ok()) {
    // Still in progress as far as anyone can tell; the next reconcile tries again.
    commitFailures().inc();
    log::error("deployment {} (stop {}) is done but cannot be persisted as done: {}", done.id,
               done.appId, st.error().message);
    return;
  }
  eraseDeployment(done.id);
  Json term;
  term["appId"] = done.appId;
  bus_.publish("app_terminated_event", term);
  Json ev;
  ev["id"] = done.id;
  ev["plan"] = deploymentJson(done);
  bus_.publish("deployment_success", ev);
  log::info("deployment {} (stop {}) succeeded", done.id, done.appId);
}

const Deployment* ServiceScheduler::deploymentOf(const std::string& appId) const {
  auto byApp = deploymentByApp_.find(appId);
  if (byApp == deploymentByApp_.end()) return nullptr;
  auto it = deployments_.find(byApp->second);
  return it == deployments_.end() ? nullptr : &it->second;
}

void ServiceScheduler::putDeployment(const Deployment& d) {
  // One deployment per app: the index points at the newest.
  deployments_[d.id] = d;
  deploymentByApp_[d.appId] = d.id;
}

void ServiceScheduler::eraseDeployment(const std::string& id) {
  auto it = deployments_.find(id);
  if (it == deployments_.end()) return;
  auto byApp = deploymentByApp_.find(it->second.appId);
  if (byApp != deploymentByApp_.end() && byApp->second == id) deploymentByApp_.erase(byApp);
  deployments_.erase(it);
}

Json ServiceScheduler::deploymentJson(const Deployment& d) const {
  Json action;
  action["action"] = d.action;
  action["app"] = d.appId;
  Json step;
  step["actions"] = Json::array({action});
  Json current = action;
  current["readinessCheckResults"] = Json::array();
  Json j;
  j["id"] = d.id;
  j["version"] = d.version;
  j["affectedApps"] = Json::array({d.appId});
  j["affectedPods"] = Json::array();
  j["steps"] = Json::array({step});
  j["currentActions"] = Json::array({current});
  j["currentStep"] = 1;
  j["totalSteps"] = 1;
  return j;
}

Json ServiceScheduler::appJson(const AppState& app, bool embedCounts, bool embedDeployments,
                               bool embedLastTaskFailure) const {
  Json j = conf::toMarathonJson(app.def);
  j["versionInfo"] =
      Json{{"lastScalingAt", app.lastScalingAt}, {"lastConfigChangeAt", app.lastConfigChangeAt}};
  if (embedCounts) {
    int staged = 0, running = 0, healthy = 0, unhealthy = 0;
    bool hasChecks = !app.def.healthChecks.empty();
    for (const auto* t : tasksOf(app.def.id)) {
      if (t->state == TaskState::kStaging || t->state == TaskState::kStarting) ++staged;
      if (t->state == TaskState::kRunning) {
        ++running;
        if (hasChecks && t->healthy.has_value()) (*t->healthy ? healthy : unhealthy)++;
      }
    }
    j["tasksStaged"] = staged;
    j["tasksRunning"] = running;
    j["tasksHealthy"] = healthy;
    j["tasksUnhealthy"] = unhealthy;
  }
  if (embedDeployments) {
    Json deps = Json::array();
    if (const Deployment* d = deploymentOf(app.def.id)) deps.push_back(Json{{"id", d->id}});
    j["deployments"] = deps;
  }
  if (embedLastTaskFailure && !app.lastTaskFailure.is_null()) {
    j["lastTaskFailure"] = app.lastTaskFailure;
  }
  return j;
}

Json ServiceScheduler::queueJson() const {
  Json q = Json::array();
  int64_t now = wallMs();
  for (const auto& [id, app] : apps_) {
    auto n = needed_.find(id);
    if (n == needed_.end() || n->second <= 0) continue;
    Json item;
    item["app"] = appJson(app, true, true, false);
    item["count"] = n->second;
    double left = app.delayUntilMs > now ? (app.delayUntilMs - now) / 1000.0 : 0.0;
    item["delay"] =
        Json{{"timeLeftSeconds", static_cast<int>(std::ceil(left))}, {"overdue", left <= 0}};
    item["since"] = isoTime(app.queuedSinceMs ? app.queuedSinceMs : now);
    Json summary;
    summary["waitingReason"] = app.waitingReason;
    summary["failuresInRow"] = app.failuresInRow;
    item["processedOffersSummary"] = summary;
    item["lastUnusedOffers"] = Json::array();
    q.push_back(item);
  }
  Json out;
  out["queue"] = q;
  return out;
}

}  // namespace corral::scheduler
