// The apps and their versions: what is defined, every stored version of it,
// the service ports the apps hold, and the state mutations that make a change
// durable. It decides nothing about tasks; the scheduler changes an app here
// only after the mutations it asked for were committed.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "conf/app_definition.h"
#include "core_cluster/scheduler/scheduler_types.h"
#include "core_cluster/state/state_store.h"

namespace corral::scheduler {

class AppStore {
 public:
  // Service ports are given out of [servicePortMin, servicePortMax].
  AppStore(int servicePortMin, int servicePortMax);

  // Takes one entry of the recovered state when it is the store's ("/apps/..."
  // or "/appversions/..."): true when taken, false when it is someone else's,
  // an error when it is the store's and cannot be read.
  Result<bool> recoverEntry(const std::string& key, const Json& value);

  const std::map<std::string, AppState>& all() const { return apps_; }
  const AppState* find(const std::string& id) const;
  AppState* find(const std::string& id);
  size_t size() const { return apps_.size(); }

  // A version (ISO time) later than every one given before, even within one ms.
  std::string newVersion();
  // A new app's id must not exist, nor be a group holding apps, nor lie under an app.
  Status checkNewId(const std::string& id) const;
  // Gives every port 0 of the definition a free service port; refuses a fixed
  // port in the range that another app holds (skipApp: the app being updated;
  // reserved: ports given to other apps of the same change).
  Result<conf::AppDefinition> assignServicePorts(conf::AppDefinition def,
                                                 const std::string& skipApp,
                                                 const std::set<int>& reserved = {}) const;
  // One stored version of an app (kNotFound when the app or the version is unknown).
  Result<conf::AppDefinition> version(const std::string& id, const std::string& version) const;
  // The version before the current one when it is stored: what a rollback deploys.
  const conf::AppDefinition* previousVersion(const std::string& id) const;

  // What makes the app durable; newVersionEntry adds its current version's record.
  std::vector<state::Mutation> putMutations(const AppState& app, bool newVersionEntry) const;
  // What removes the app and every stored version of it.
  std::vector<state::Mutation> deleteMutations(const std::string& id) const;

  // After the commit: the app (and its current version) as committed.
  void put(AppState app);
  // After the commit: the app and its versions are gone.
  void erase(const std::string& id);

 private:
  int servicePortMin_;
  int servicePortMax_;
  std::map<std::string, AppState> apps_;
  // app id -> version -> definition
  std::map<std::string, std::map<std::string, conf::AppDefinition>> versions_;
  std::string lastVersion_;
};

}  // namespace corral::scheduler
