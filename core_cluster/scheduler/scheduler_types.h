// Plain data of the service scheduler (no behaviour): an app as the scheduler
// keeps it, a deployment, the options, and what an API change did. Cheap to
// include for the parts that only read them (the API's rendering).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>  // Json members by value

#include "base/json.h"
#include "conf/app_definition.h"

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
  // Offers looked at for the app since it was queued, and those of them it
  // did not use (Marathon's processedOffersSummary in /v2/queue).
  int64_t processedOffers = 0;
  int64_t unusedOffers = 0;
};

// One action of a deployment step on one app.
struct DeploymentAction {
  std::string action;  // StartApplication | ScaleApplication | RestartApplication | StopApplication
  std::string appId;
  bool operator==(const DeploymentAction&) const = default;
};

// A deployment: ordered steps (dependencies first), each finished when every
// app it acts on is done, before the next one starts.
struct Deployment {
  std::string id;
  std::string version;
  std::vector<std::vector<DeploymentAction>> steps;
  size_t currentStep = 0;  // index of the step in progress
  // Marathon's plan trees: the root group before and after, holding the
  // affected apps (null for a deployment recovered from an older state).
  Json original;
  Json target;
  int64_t startedMs = 0;

  // Every app the deployment acts on, in step order.
  std::vector<std::string> appIds() const {
    std::vector<std::string> out;
    for (const auto& step : steps) {
      for (const auto& a : step) out.push_back(a.appId);
    }
    return out;
  }
};

struct SchedulerOptions {
  std::string frameworkName = "marathon";
  int servicePortMin = 10000;
  int servicePortMax = 20000;
  uint64_t reconcileIntervalMs = 250;
  // Marathon's maxInstancesPerOffer: bounds a launch message and spreads big apps.
  int maxTasksPerOffer = 50;
};

// What an API call did: the API layer turns it into Marathon's responses.
struct ChangeResult {
  std::string version;
  std::string deploymentId;
  Json app;    // for create
  Json steps;  // for a dry run: the steps the change would take
};

// A change of several apps and groups made as one deployment: a group's
// POST/PUT/DELETE, a bulk app update, a rollback.
struct GroupChange {
  struct App {
    Json body;             // the app's definition, its id absolute
    bool partial = false;  // an existing app takes only the fields given (bulk PUT /v2/apps)
  };
  struct Group {
    std::string id;                         // absolute
    std::vector<std::string> dependencies;  // absolute app or group ids
  };
  std::string groupId = "/";  // the group the request names (events, its versions)
  std::vector<App> apps;      // created or changed
  std::vector<std::string> removeApps;
  std::vector<Group> groups;  // defined (kept while empty, their dependencies honoured)
  std::vector<std::string> removeGroups;
  bool recordVersion = false;  // store a snapshot of groupId after the change
};

}  // namespace corral::scheduler
