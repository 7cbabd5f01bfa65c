#include "core_cluster/api/marathon_json.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <iterator>

#include "base/clock.h"
#include "core_cluster/scheduler/service_scheduler.h"

namespace corral::api {

namespace {

void appendString(std::string& out, std::string_view s) {
  // Ids, hosts, states and versions are validated plain text; escape anyway
  // when something unusual shows up.
  bool plain = true;
  for (unsigned char c : s) plain &= c >= 0x20 && c != '"' && c != '\\' && c < 0x7f;
  if (plain) {
    out += '"';
    out += s;
    out += '"';
  } else {
    out += dumpJson(Json(std::string(s)));
  }
}

// `,"name":"<time>"`, or nothing for a time not reached: Marathon leaves
// such fields out (its schema has no nulls).
void appendTimeField(std::string& out, std::string_view name, int64_t ms) {
  if (!ms) return;
  out += ",\"";
  out += name;
  out += "\":\"";
  out += isoTime(ms);
  out += '"';
}

void appendInts(std::string& out, const std::vector<int>& v) {
  out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  out += ']';
}

}  // namespace

Json appJson(const scheduler::AppState& app) {
  Json j = conf::toMarathonJson(app.def);
  j["versionInfo"] =
      Json{{"lastScalingAt", app.lastScalingAt}, {"lastConfigChangeAt", app.lastConfigChangeAt}};
  return j;
}

Json appJson(const scheduler::ServiceScheduler& s, const scheduler::AppState& app, bool embedCounts,
             bool embedDeployments, bool embedLastTaskFailure) {
  Json j = appJson(app);
  if (embedCounts) {
    int staged = 0, running = 0, healthy = 0, unhealthy = 0;
    bool hasChecks = !app.def.healthChecks.empty();
    for (const auto* t : s.tasksOf(app.def.id)) {
      if (t->state == conf::TaskState::kStaging || t->state == conf::TaskState::kStarting) {
        ++staged;
      }
      if (t->state == conf::TaskState::kRunning) {
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
    if (const auto* d = s.deploymentOfApp(app.def.id)) deps.push_back(Json{{"id", d->id}});
    j["deployments"] = deps;
  }
  if (embedLastTaskFailure && !app.lastTaskFailure.is_null()) {
    j["lastTaskFailure"] = app.lastTaskFailure;
  }
  return j;
}

Json deploymentJson(const scheduler::Deployment& d) {
  Json steps = Json::array();
  for (const auto& step : d.steps) {
    Json actions = Json::array();
    for (const auto& a : step) actions.push_back(Json{{"action", a.action}, {"app", a.appId}});
    steps.push_back(Json{{"actions", actions}});
  }
  Json current = Json::array();
  if (d.currentStep < d.steps.size()) {
    for (const auto& a : d.steps[d.currentStep]) {
      current.push_back(
          Json{{"action", a.action}, {"app", a.appId}, {"readinessCheckResults", Json::array()}});
    }
  }
  Json j;
  j["id"] = d.id;
  j["version"] = d.version;
  j["affectedApps"] = d.appIds();
  j["affectedPods"] = Json::array();
  j["steps"] = steps;
  j["currentActions"] = current;
  j["currentStep"] = d.currentStep + 1;
  j["totalSteps"] = d.steps.size();
  return j;
}

Json queueJson(const scheduler::ServiceScheduler& s, int64_t nowMs) {
  Json q = Json::array();
  for (const auto& [id, count] : s.launchQueue()) {
    const scheduler::AppState* app = s.app(id);
    if (!app || count <= 0) continue;
    Json item;
    item["app"] = appJson(s, *app, true, true, false);
    item["count"] = count;
    double left = app->delayUntilMs > nowMs ? (app->delayUntilMs - nowMs) / 1000.0 : 0.0;
    item["delay"] =
        Json{{"timeLeftSeconds", static_cast<int>(std::ceil(left))}, {"overdue", left <= 0}};
    item["since"] = isoTime(app->queuedSinceMs ? app->queuedSinceMs : nowMs);
    Json summary;
    summary["processedOffersCount"] = app->processedOffers;
    summary["unusedOffersCount"] = app->unusedOffers;
    summary["waitingReason"] = app->waitingReason;
    summary["failuresInRow"] = app->failuresInRow;
    item["processedOffersSummary"] = summary;
    item["lastUnusedOffers"] = Json::array();
    q.push_back(item);
  }
  Json out;
  out["queue"] = q;
  return out;
}

void appendTaskJson(std::string& out, const master::TaskRecord& t, bool appHasHealthChecks) {
  out += "{\"id\":";
  appendString(out, t.id);
  out += ",\"appId\":";
  appendString(out, t.appId);
  out += ",\"host\":";
  appendString(out, t.host);
  out += ",\"slaveId\":";
  appendString(out, t.agentId);
  out += ",\"state\":";
  appendString(out, conf::toString(t.state));
  out += ",\"ports\":";
  appendInts(out, t.ports);
  out += ",\"servicePorts\":";
  appendInts(out, t.servicePorts);
  appendTimeField(out, "stagedAt", t.stagedAtMs);
  appendTimeField(out, "startedAt", t.startedAtMs);
  out += ",\"role\":\"*\",\"version\":";
  appendString(out, t.version);
  out += ",\"ipAddresses\":[{\"ipAddress\":";
  appendString(out, t.host);
  out += ",\"protocol\":\"IPv4\"}],\"localVolumes\":[],\"healthCheckResults\":[";
  if (appHasHealthChecks && t.healthy.has_value()) {
    out += "{\"alive\":";
    out += *t.healthy ? "true" : "false";
    out += ",\"consecutiveFailures\":" + std::to_string(t.consecutiveFailures);
    appendTimeField(out, "firstSuccess", t.firstSuccessMs);
    appendTimeField(out, "lastFailure", t.lastFailureMs);
    appendTimeField(out, "lastSuccess", t.lastSuccessMs);
    if (!t.lastFailureCause.empty()) {
      out += ",\"lastFailureCause\":";
      appendString(out, t.lastFailureCause);
    }
    out += ",\"taskId\":";
    appendString(out, t.id);
    out += ",\"instanceId\":";
    appendString(out, t.id);
    out += '}';
  }
  out += "]}";
}

std::string tasksJsonText(const scheduler::ServiceScheduler& s,
                          const std::vector<const master::TaskRecord*>& tasks) {
  std::string out = "{\"tasks\":[";
  out.reserve(tasks.size() * 400 + 16);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (i) out += ',';
    const auto* app = s.app(tasks[i]->appId);
    appendTaskJson(out, *tasks[i], app && !app->def.healthChecks.empty());
  }
  out += "]}";
  return out;
}

const std::string& AppRenderCache::definitionText(const scheduler::AppState& app) {
  std::string key = app.def.version.value_or("");
  key += '\n';
  key += app.lastConfigChangeAt;
  key += '\n';
  key += app.lastScalingAt;
  Entry& e = entries_[app.def.id];
  if (e.key != key || e.text.empty()) {
    e.text = dumpJson(appJson(app));
    e.key = std::move(key);
    ++renders_;
  }
  return e.text;
}

void AppRenderCache::retainOnly(const std::map<std::string, scheduler::AppState>& apps) {
  if (entries_.size() <= apps.size()) return;
  std::erase_if(entries_, [&apps](const auto& e) { return !apps.count(e.first); });
}

void appendAppJson(std::string& out, const scheduler::ServiceScheduler& s,
                   const scheduler::AppState& app, bool embedTasks, bool embedCounts,
                   bool embedDeployments, bool embedLastTaskFailure, AppRenderCache* cache) {
  std::string uncached;
  if (!cache) uncached = dumpJson(appJson(app));
  const std::string& def = cache ? cache->definitionText(app) : uncached;
  out.append(def, 0, def.size() - 1);  // without its closing '}'
  const bool wantTasks = embedTasks || embedCounts;
  auto tasks = wantTasks ? s.tasksOf(app.def.id) : std::vector<const master::TaskRecord*>{};
  const bool checks = !app.def.healthChecks.empty();
  if (embedCounts) {
    int staged = 0, running = 0, healthy = 0, unhealthy = 0;
    for (const auto* t : tasks) {
      if (t->state == conf::TaskState::kStaging || t->state == conf::TaskState::kStarting) {
        ++staged;
      }
      if (t->state == conf::TaskState::kRunning) {
        ++running;
        if (checks && t->healthy.has_value()) (*t->healthy ? healthy : unhealthy)++;
      }
    }
    fmt::format_to(std::back_inserter(out),
                   ",\"tasksStaged\":{},\"tasksRunning\":{},\"tasksHealthy\":{},"
                   "\"tasksUnhealthy\":{}",
                   staged, running, healthy, unhealthy);
  }
  if (embedDeployments) {
    out += ",\"deployments\":[";
    if (const auto* d = s.deploymentOfApp(app.def.id)) {
      out += "{\"id\":";
      appendString(out, d->id);
      out += '}';
    }
    out += ']';
  }
  if (embedLastTaskFailure && !app.lastTaskFailure.is_null()) {
    out += ",\"lastTaskFailure\":";
    out += dumpJson(app.lastTaskFailure);
  }
  if (embedTasks) {
    out.reserve(out.size() + tasks.size() * 400 + 16);
    out += ",\"tasks\":[";
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (i) out += ',';
      appendTaskJson(out, *tasks[i], checks);
    }
    out += ']';
  }
  out += '}';
}

std::string appJsonText(const scheduler::ServiceScheduler& s, const scheduler::AppState& app,
                        bool embedTasks, bool embedCounts, bool embedDeployments,
                        bool embedLastTaskFailure, AppRenderCache* cache) {
  std::string out;
  appendAppJson(out, s, app, embedTasks, embedCounts, embedDeployments, embedLastTaskFailure,
                cache);
  return out;
}

}  // namespace corral::api
