#include "core_cluster/scheduler/group_store.h"

#include <nlohmann/json.hpp>

namespace corral::scheduler {

namespace {

constexpr const char* kGroups = "/groups/";
constexpr const char* kVersions = "/groupversions/";

// "/groups/" + id without its leading slash ("/groups/" is the root group).
std::string groupKey(const std::string& id) { return kGroups + id.substr(1); }

std::string versionKey(const std::string& id, const std::string& version) {
  return kVersions + version + id;
}

}  // namespace

Result<bool> GroupStore::recoverEntry(const std::string& key, const Json& value) {
  if (key.rfind(kGroups, 0) == 0) {
    if (!value.is_object() || !value.contains("id") || !value["id"].is_string()) {
      return makeError(ErrorKind::kInternal, "cannot recover " + key + ": no group id");
    }
    GroupState g;
    g.id = value["id"].get<std::string>();
    g.dependencies = value.value("dependencies", std::vector<std::string>{});
    g.version = value.value("version", "");
    g.versions = value.value("versions", std::vector<std::string>{});
    groups_[g.id] = std::move(g);
    return true;
  }
  if (key.rfind(kVersions, 0) == 0) {
    // The snapshot names its group and version; an unreadable one is skipped
    // (only a rollback to it would need it).
    if (value.is_object() && value.contains("id") && value["id"].is_string() &&
        value.contains("version") && value["version"].is_string()) {
      snapshots_[value["id"].get<std::string>()][value["version"].get<std::string>()] = value;
    }
    return true;
  }
  return false;
}

const GroupState* GroupStore::find(const std::string& id) const {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : &it->second;
}

std::vector<std::string> GroupStore::dependencies(const std::string& id) const {
  const GroupState* g = find(id);
  return g ? g->dependencies : std::vector<std::string>{};
}

std::vector<std::string> GroupStore::under(const std::string& id) const {
  std::vector<std::string> out;
  std::string prefix = id == "/" ? "/" : id + "/";
  // Keys starting with `id` are contiguous; "/shop-x" sorts among "/shop/..." ones.
  for (auto it = groups_.lower_bound(id); it != groups_.end(); ++it) {
    if (it->first.rfind(id, 0) != 0) break;
    if (it->first == id || it->first.rfind(prefix, 0) == 0) out.push_back(it->first);
  }
  return out;
}

Result<Json> GroupStore::version(const std::string& id, const std::string& version) const {
  auto g = snapshots_.find(id);
  if (g != snapshots_.end()) {
    auto v = g->second.find(version);
    if (v != g->second.end()) return v->second;
  }
  return makeError(ErrorKind::kNotFound,
                   "Version '" + version + "' of group '" + id + "' does not exist");
}

std::vector<state::Mutation> GroupStore::putMutations(const GroupState& g,
                                                      const Json& snapshot) const {
  Json v;
  v["id"] = g.id;
  v["dependencies"] = g.dependencies;
  v["version"] = g.version;
  v["versions"] = g.versions;
  std::vector<state::Mutation> batch{state::Mutation::put(groupKey(g.id), v)};
  if (!snapshot.is_null())
    batch.push_back(state::Mutation::put(versionKey(g.id, g.version), snapshot));
  return batch;
}

std::vector<state::Mutation> GroupStore::deleteMutations(const std::string& id) const {
  std::vector<state::Mutation> batch{state::Mutation::del(groupKey(id))};
  if (const GroupState* g = find(id)) {
    for (const auto& v : g->versions) batch.push_back(state::Mutation::del(versionKey(id, v)));
  }
  return batch;
}

void GroupStore::put(GroupState g, Json snapshot) {
  std::string id = g.id;
  if (!snapshot.is_null()) snapshots_[id][g.version] = std::move(snapshot);
  groups_[id] = std::move(g);
}

void GroupStore::erase(const std::string& id) {
  groups_.erase(id);
  snapshots_.erase(id);
}

}  // namespace corral::scheduler
