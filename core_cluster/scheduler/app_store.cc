#include "core_cluster/scheduler/app_store.h"

#include <nlohmann/json.hpp>

#include <set>

#include "base/clock.h"

namespace corral::scheduler {

namespace {

std::string appKey(const std::string& id) { return "/apps" + id; }

std::string versionKey(const std::string& id, const std::string& version) {
  return "/appversions" + id + "/" + version;
}

}  // namespace

AppStore::AppStore(int servicePortMin, int servicePortMax)
    : servicePortMin_(servicePortMin), servicePortMax_(servicePortMax) {}

Result<bool> AppStore::recoverEntry(const std::string& key, const Json& value) {
  if (key.rfind("/apps/", 0) == 0) {
    if (!value.is_object() || !value.contains("definition")) {
      return makeError(ErrorKind::kInternal, "cannot recover " + key + ": no definition");
    }
    auto def = conf::parseAppDefinition(value.at("definition"));
    if (!def.ok()) {
      return makeError(ErrorKind::kInternal, "cannot recover " + key + ": " + def.error().message);
    }
    AppState a;
    a.def = *def;
    a.lastConfigChangeAt = value.value("lastConfigChangeAt", "");
    a.lastScalingAt = value.value("lastScalingAt", "");
    a.versions = value.value("versions", std::vector<std::string>{});
    std::string id = a.def.id;
    apps_[id] = std::move(a);
    return true;
  }
  if (key.rfind("/appversions/", 0) == 0) {
    // An unreadable old version is skipped: only a rollback to it would need it.
    auto def = conf::parseAppDefinition(value);
    if (def.ok() && def->version) versions_[def->id][*def->version] = *def;
    return true;
  }
  return false;
}

const AppState* AppStore::find(const std::string& id) const {
  auto it = apps_.find(id);
  return it == apps_.end() ? nullptr : &it->second;
}

AppState* AppStore::find(const std::string& id) {
  auto it = apps_.find(id);
  return it == apps_.end() ? nullptr : &it->second;
}

std::string AppStore::newVersion() {
  int64_t ms = wallMs();
  std::string v = isoTime(ms);
  // Versions must be unique and increasing even within one millisecond.
  while (v <= lastVersion_) v = isoTime(++ms);
  lastVersion_ = v;
  return v;
}

Status AppStore::checkNewId(const std::string& id) const {
  if (apps_.count(id)) {
    return makeError(ErrorKind::kConflict, "An app with id [" + id + "] already exists.");
  }
  for (const auto& [other, a] : apps_) {
    if (other.rfind(id + "/", 0) == 0) {
      return makeError(ErrorKind::kConflict, "A group with id [" + id + "] already exists.");
    }
    if (id.rfind(other + "/", 0) == 0) {
      return makeError(ErrorKind::kConflict,
                       "The path " + other + " is an app and cannot contain " + id + ".");
    }
  }
  return Status::Ok();
}

Result<conf::AppDefinition> AppStore::assignServicePorts(conf::AppDefinition def,
                                                         const std::string& skipApp,
                                                         const std::set<int>& reserved) const {
  std::set<int> used = reserved;
  for (const auto& [id, a] : apps_) {
    if (id == skipApp) continue;
    for (const auto& pd : a.def.portDefinitions) used.insert(pd.port);
  }
  std::set<int> own;
  for (auto& pd : def.portDefinitions) {
    if (pd.port == 0) continue;
    if (used.count(pd.port) && pd.port >= servicePortMin_ && pd.port <= servicePortMax_) {
      return makeError(ErrorKind::kInvalid, "service port " + std::to_string(pd.port) +
                                                " is already used by another app");
    }
    own.insert(pd.port);
  }
  int next = servicePortMin_;
  for (auto& pd : def.portDefinitions) {
    if (pd.port != 0) continue;
    while (next <= servicePortMax_ && (used.count(next) || own.count(next))) ++next;
    if (next > servicePortMax_) {
      return makeError(ErrorKind::kInvalid, "no free service port left in " +
                                                std::to_string(servicePortMin_) + "-" +
                                                std::to_string(servicePortMax_));
    }
    pd.port = next;
    own.insert(next++);
  }
  return def;
}

Result<conf::AppDefinition> AppStore::version(const std::string& id,
                                              const std::string& version) const {
  const AppState* a = find(id);
  if (!a) return makeError(ErrorKind::kNotFound, "App '" + id + "' does not exist");
  if (a->def.version && *a->def.version == version) return a->def;
  auto app = versions_.find(id);
  if (app != versions_.end()) {
    auto found = app->second.find(version);
    if (found != app->second.end()) return found->second;
  }
  return makeError(ErrorKind::kNotFound, "App '" + id + "' does not exist in version " + version);
}

const conf::AppDefinition* AppStore::previousVersion(const std::string& id) const {
  const AppState* a = find(id);
  if (!a || a->versions.size() < 2) return nullptr;
  auto app = versions_.find(id);
  if (app == versions_.end()) return nullptr;
  auto found = app->second.find(a->versions[a->versions.size() - 2]);
  return found == app->second.end() ? nullptr : &found->second;
}

std::vector<state::Mutation> AppStore::putMutations(const AppState& app,
                                                    bool newVersionEntry) const {
  Json v;
  v["definition"] = conf::toMarathonJson(app.def);
  v["lastConfigChangeAt"] = app.lastConfigChangeAt;
  v["lastScalingAt"] = app.lastScalingAt;
  v["versions"] = app.versions;
  std::vector<state::Mutation> batch{state::Mutation::put(appKey(app.def.id), v)};
  if (newVersionEntry) {
    batch.push_back(state::Mutation::put(versionKey(app.def.id, *app.def.version),
                                         conf::toMarathonJson(app.def)));
  }
  return batch;
}

std::vector<state::Mutation> AppStore::deleteMutations(const std::string& id) const {
  std::vector<state::Mutation> batch{state::Mutation::del(appKey(id))};
  if (const AppState* a = find(id)) {
    for (const auto& v : a->versions) batch.push_back(state::Mutation::del(versionKey(id, v)));
  }
  return batch;
}

void AppStore::put(AppState app) {
  std::string id = app.def.id;
  if (app.def.version) versions_[id][*app.def.version] = app.def;
  apps_[id] = std::move(app);
}

void AppStore::erase(const std::string& id) {
  apps_.erase(id);
  versions_.erase(id);
}

}  // namespace corral::scheduler
