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

// What an API call did: the API layer turns it into Marathon's responses.
struct ChangeResult {
  std::string version;
  std::string deploymentId;
  Json app;  // for create
};

}  // namespace corral::scheduler
