// The groups defined through /v2/groups: their dependencies (which order
// deployments), that they exist while empty, and their stored versions (a
// snapshot of the group tree per change, what a rollback by version
// restores). Groups that only hold apps exist implicitly; the apps are the
// AppStore's. Like the AppStore it changes only after its mutations were
// committed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "core_cluster/state/state_store.h"

namespace corral::scheduler {

struct GroupState {
  std::string id;                         // absolute: "/shop"
  std::vector<std::string> dependencies;  // absolute app or group ids
  std::string version;                    // of the last change
  std::vector<std::string> versions;      // stored snapshots, oldest first
};

class GroupStore {
 public:
  // Takes one entry of the recovered state when it is the store's ("/groups/..."
  // or "/groupversions/..."): true when taken, false when it is someone else's.
  Result<bool> recoverEntry(const std::string& key, const Json& value);

  const std::map<std::string, GroupState>& all() const { return groups_; }
  const GroupState* find(const std::string& id) const;
  // The dependencies of a group (empty when it has none or is not defined).
  std::vector<std::string> dependencies(const std::string& id) const;
  // Defined groups at or below `id`.
  std::vector<std::string> under(const std::string& id) const;
  // One stored snapshot of the group (kNotFound when unknown).
  Result<Json> version(const std::string& id, const std::string& version) const;

  // What makes the group durable; a snapshot (not null) is stored as its version `g.version`.
  std::vector<state::Mutation> putMutations(const GroupState& g, const Json& snapshot) const;
  // What removes the group and its snapshots.
  std::vector<state::Mutation> deleteMutations(const std::string& id) const;

  // After the commit.
  void put(GroupState g, Json snapshot);
  void erase(const std::string& id);

 private:
  std::map<std::string, GroupState> groups_;
  std::map<std::string, std::map<std::string, Json>> snapshots_;  // id -> version -> tree
};

}  // namespace corral::scheduler
