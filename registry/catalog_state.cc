#include "registry/catalog_state.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "base/json_array_member.h"
#include "base/share_cpu.h"

namespace corral::registry {

namespace {

// A string member, or "" when absent or not a string.
std::string stringField(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string absoluteId(std::string id) {
  if (!id.empty() && id.front() != '/') id.insert(id.begin(), '/');
  return id;
}

ApplyResult bad(std::string error, std::string appId = {}) {
  ApplyResult r;
  r.outcome = ApplyOutcome::kBad;
  r.error = std::move(error);
  r.appId = std::move(appId);
  return r;
}

ApplyResult outcome(ApplyOutcome o, std::string appId) {
  ApplyResult r;
  r.outcome = o;
  r.appId = std::move(appId);
  return r;
}

void insertSorted(std::vector<Task>& tasks, Task t) {
  auto it = std::lower_bound(tasks.begin(), tasks.end(), t.id,
                             [](const Task& x, const std::string& id) { return x.id < id; });
  if (it != tasks.end() && it->id == t.id) {
    *it = std::move(t);
  } else {
    tasks.insert(it, std::move(t));
  }
}

}  // namespace

CatalogState::CatalogState() : last_(std::make_shared<const Snapshot>()) {}

const App* CatalogState::peek(std::string_view appId) const {
  auto p = pending_.find(appId);
  if (p != pending_.end()) return p->second.get();
  return last_->find(appId);
}

App* CatalogState::mutableApp(const std::string& appId) {
  auto p = pending_.find(appId);
  if (p != pending_.end()) return p->second.get();
  const App* old = last_->find(appId);
  if (old == nullptr) return nullptr;
  auto copy = std::make_shared<App>(*old);
  App* raw = copy.get();
  pending_.emplace(appId, std::move(copy));
  return raw;
}

void CatalogState::upsertApp(App app) {
  std::string id = app.id;
  pending_[id] = std::make_shared<App>(std::move(app));
}

void CatalogState::removeApp(const std::string& appId) {
  if (last_->find(appId) == nullptr) {
    pending_.erase(appId);  // added since the last build: forget it
  } else {
    pending_[appId] = nullptr;
  }
}

void CatalogState::setLeader(std::string leader) {
  if (leader == leader_) return;
  leader_ = std::move(leader);
  metaDirty_ = true;
}

void CatalogState::noteEventArrival(int64_t arrivedMs) {
  if (firstEventMs_ == 0) firstEventMs_ = arrivedMs;
  lastEventMs_ = arrivedMs;
}

Result<LoadReport> CatalogState::loadApps(std::string_view body) {
  // Every app is read before the catalog is touched, so that an answer found
  // malformed at its end changes nothing; each is parsed on its own (no tree
  // of the whole answer: see base/json_array_member.h).
  LoadReport report;
  std::vector<App> apps;
  std::set<std::string, std::less<>> seen;  // every id in the answer, unreadable apps' too
  Status read = forEachArrayElement(body, "apps", [&](const Json& aj, size_t i) {
    shareCpu();  // 100,000 apps read at a start beside a serving generation
    auto app = parseApp(aj);
    if (!app.ok()) {
      Error e = app.error();
      e.message = "apps(" + std::to_string(i) + ")" + e.message;
      report.bad.push_back(e);
      // Keep the last good version of an app we cannot read now.
      if (aj.is_object()) {
        std::string id = absoluteId(stringField(aj, "id"));
        if (!id.empty()) seen.insert(id);
      }
      return;
    }
    seen.insert(app->id);
    apps.push_back(std::move(*app));
  });
  if (!read.ok()) return makeError(ErrorKind::kInvalid, "/v2/apps: " + read.error().message);
  for (App& app : apps) {
    const App* cur = peek(app.id);
    if (cur == nullptr || !(*cur == app)) upsertApp(std::move(app));
    report.apps++;
  }
  std::vector<std::string> gone;
  for (const auto& [id, app] : last_->apps) {
    if (!seen.count(id)) gone.push_back(id);
  }
  for (const auto& [id, app] : pending_) {
    if (app && !seen.count(id)) gone.push_back(id);
  }
  for (const auto& id : gone) removeApp(id);
  return report;
}

ApplyResult CatalogState::applyEvent(std::string_view type, std::string_view data) {
  // Half of a burst's events: read field by field, no tree (status_update_event.h).
  if (type == "status_update_event") {
    auto event = readStatusUpdateEvent(data);
    if (!event.ok()) return bad("status_update_event: " + event.error().message);
    return applyStatusUpdate(*event);
  }
  auto json = parseJson(data);
  if (!json.ok()) return bad("invalid JSON: " + json.error().message);
  const Json& obj = *json;
  if (!obj.is_object()) return bad("event data is not a JSON object");
  if (type == "health_status_changed_event" || type == "instance_health_changed_event") {
    return applyHealth(obj);
  }
  if (type == "api_post_event") return applyAppDefinition(obj);
  if (type == "app_terminated_event") return applyTerminated(obj);
  if (type == "deployment_success" || type == "deployment_failed") return applyDeployment(obj);
  return outcome(ApplyOutcome::kIgnored, {});
}

ApplyResult CatalogState::applyStatusUpdate(const StatusUpdateEvent& event) {
  std::string appId = absoluteId(event.appId);
  if (event.taskId.empty() || event.taskStatus.empty() || appId.empty()) {
    return bad("status_update_event needs taskId, taskStatus and appId", appId);
  }
  const std::string& taskId = event.taskId;
  conf::TaskState state = conf::parseTaskState(event.taskStatus);
  const App* cur = peek(appId);
  if (conf::isTerminal(state)) {
    if (cur == nullptr || cur->findTask(taskId) == nullptr)
      return outcome(ApplyOutcome::kNoop, appId);
    App* app = mutableApp(appId);
    std::erase_if(app->tasks, [&](const Task& t) { return t.id == taskId; });
    return outcome(ApplyOutcome::kApplied, appId);
  }
  if (cur == nullptr) {
    // A task of an app we have not seen (yet): read the app itself.
    ApplyResult r = outcome(ApplyOutcome::kNoop, appId);
    r.refetch.push_back(appId);
    return r;
  }
  const Task* existing = cur->findTask(taskId);
  Task t;
  if (existing != nullptr) {
    t = *existing;
  } else {
    t.id = taskId;
    t.appId = appId;
    t.servicePorts = servicePortsOf(*cur);
  }
  t.state = state;
  // Fields the event carries replace ours; absent ones are kept.
  if (event.host) t.host = *event.host;
  if (event.slaveId) t.agentId = *event.slaveId;
  if (event.ports) t.ports = *event.ports;
  if (event.version) t.version = *event.version;
  if (event.ipAddresses) {
    t.ipAddresses = *event.ipAddresses;
    t.ip = t.ipAddresses.empty() ? std::string() : t.ipAddresses.front();
  }
  if (existing != nullptr && *existing == t) return outcome(ApplyOutcome::kNoop, appId);
  insertSorted(mutableApp(appId)->tasks, std::move(t));
  return outcome(ApplyOutcome::kApplied, appId);
}

ApplyResult CatalogState::applyHealth(const Json& data) {
  std::string appId = absoluteId(stringField(data, "appId"));
  if (appId.empty()) appId = absoluteId(stringField(data, "runSpecId"));
  std::string taskId = stringField(data, "taskId");
  std::string instanceId = stringField(data, "instanceId");
  auto alive = data.find("alive");
  if (alive == data.end()) alive = data.find("healthy");
  if (appId.empty() || (taskId.empty() && instanceId.empty()) || alive == data.end() ||
      !alive->is_boolean()) {
    return bad("health event needs an app id, a task or instance id and a boolean alive/healthy",
               appId);
  }
  bool healthy = alive->get<bool>();
  const App* cur = peek(appId);
  if (cur == nullptr) return outcome(ApplyOutcome::kNoop, appId);
  // Marathon's instance ids prefix their task ids ("app.instance-x" -> "app.instance-x._app.1").
  auto matches = [&](const Task& t) {
    if (!taskId.empty()) return t.id == taskId;
    return t.id == instanceId ||
           (t.id.size() > instanceId.size() &&
            t.id.compare(0, instanceId.size(), instanceId) == 0 && t.id[instanceId.size()] == '.');
  };
  bool change = false;
  for (const auto& t : cur->tasks) change |= matches(t) && t.healthy != healthy;
  if (!change) return outcome(ApplyOutcome::kNoop, appId);
  for (auto& t : mutableApp(appId)->tasks) {
    if (matches(t)) t.healthy = healthy;
  }
  return outcome(ApplyOutcome::kApplied, appId);
}

ApplyResult CatalogState::applyAppDefinition(const Json& data) {
  auto def = data.find("appDefinition");
  if (def == data.end() || !def->is_object()) {
    // No definition (e.g. a group change): re-read the app the uri names.
    std::string uri = stringField(data, "uri");
    const std::string prefix = "/v2/apps/";
    if (uri.rfind(prefix, 0) != 0 || uri.size() == prefix.size()) {
      return outcome(ApplyOutcome::kIgnored, {});
    }
    std::string appId = uri.substr(prefix.size() - 1);
    ApplyResult r = outcome(ApplyOutcome::kNoop, appId);
    r.refetch.push_back(appId);
    return r;
  }
  Json defOnly = *def;
  defOnly.erase("tasks");
  auto parsed = parseApp(defOnly);
  if (!parsed.ok()) {
    return bad("api_post_event appDefinition" + parsed.error().message,
               absoluteId(stringField(*def, "id")));
  }
  App next = std::move(*parsed);
  const App* cur = peek(next.id);
  if (cur != nullptr) {
    next.tasks = cur->tasks;
    if (next.portDefinitions != cur->portDefinitions) {
      auto sp = servicePortsOf(next);
      for (auto& t : next.tasks) t.servicePorts = sp;
    }
    if (*cur == next) return outcome(ApplyOutcome::kNoop, next.id);
  }
  std::string id = next.id;
  upsertApp(std::move(next));
  return outcome(ApplyOutcome::kApplied, id);
}

ApplyResult CatalogState::applyTerminated(const Json& data) {
  std::string appId = absoluteId(stringField(data, "appId"));
  if (appId.empty()) return bad("app_terminated_event needs appId");
  if (peek(appId) == nullptr) return outcome(ApplyOutcome::kNoop, appId);
  removeApp(appId);
  return outcome(ApplyOutcome::kApplied, appId);
}

ApplyResult CatalogState::applyDeployment(const Json& data) {
  auto plan = data.find("plan");
  if (plan == data.end() || !plan->is_object()) return outcome(ApplyOutcome::kIgnored, {});
  // A finished deployment may have changed apps without an api_post_event
  // (group updates): re-read every app it touched.
  std::set<std::string> ids;
  auto affected = plan->find("affectedApps");
  if (affected != plan->end() && affected->is_array()) {
    for (const auto& a : *affected) {
      if (a.is_string()) ids.insert(absoluteId(a.get<std::string>()));
    }
  }
  auto steps = plan->find("steps");
  if (steps != plan->end() && steps->is_array()) {
    for (const auto& s : *steps) {
      auto actions = s.is_object() ? s.find("actions") : s.end();
      if (!s.is_object() || actions == s.end() || !actions->is_array()) continue;
      for (const auto& a : *actions) {
        if (a.is_object()) {
          std::string app = stringField(a, "app");
          if (!app.empty()) ids.insert(absoluteId(app));
        }
      }
    }
  }
  ApplyResult r = outcome(ApplyOutcome::kNoop, {});
  r.refetch.assign(ids.begin(), ids.end());
  return r;
}

std::pair<std::shared_ptr<const Snapshot>, Diff> CatalogState::build(int64_t nowMs) {
  Diff diff;
  if (!dirty()) return {nullptr, diff};
  auto snap = std::make_shared<Snapshot>();
  snap->apps = last_->apps;  // shared: the writes below copy only the chunks they touch
  for (auto& [id, app] : pending_) {
    shareCpu();  // a burst's hundreds of apps give way to the workers
    auto old = last_->apps.find(id);
    if (!app) {
      if (old != last_->apps.end()) {
        snap->apps.erase(id);
        diff.removed.push_back(id);
      }
    } else if (old == last_->apps.end()) {
      snap->apps.insert_or_assign(id, std::move(app));
      diff.added.push_back(id);
    } else if (!(*old->second == *app)) {
      snap->apps.insert_or_assign(id, std::move(app));
      diff.changed.push_back(id);
    }
  }
  pending_.clear();
  int64_t first = firstEventMs_, lastMs = lastEventMs_;
  firstEventMs_ = lastEventMs_ = 0;
  if (diff.empty() && !metaDirty_) return {nullptr, diff};
  metaDirty_ = false;
  snap->version = last_->version + 1;
  snap->leader = leader_;
  snap->builtAtMs = nowMs;
  snap->lastEventId = lastEventId_;
  snap->firstEventArrivedMs = first;
  snap->lastEventArrivedMs = lastMs;
  last_ = snap;
  return {std::move(snap), std::move(diff)};
}

}  // namespace corral::registry
