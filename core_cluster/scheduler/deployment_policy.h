// What a deployment does next for one app, decided from the app's definition
// and what its tasks look like, and nothing else (no driver, no clock):
// * how many instances to launch and which tasks to kill, honouring the
//   upgrade strategy during a rolling replacement (minimumHealthCapacity,
//   maximumOverCapacity) and the kill selection when scaling down;
// * when a deployment is done: every instance current, healthy and ready;
// * which task ends count as launch failures, and how long the app then
//   waits before its next launch (backoff).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conf/app_definition.h"
#include "conf/task_state.h"

namespace corral::scheduler {

// One non-terminal task of the app, as the policy sees it.
struct TaskFacts {
  std::string id;
  int64_t stagedAtMs = 0;
  bool active = false;    // staging, starting or running (holds resources)
  bool current = false;   // runs the app's current configuration
  bool healthy = false;   // running, passing its health checks and ready
  bool stopping = false;  // asked to stop; up until the kill is confirmed
};

// The next step for the app: launch this many, kill these (in this order).
struct Step {
  int launch = 0;
  std::vector<std::string> kill;
};

Step nextStep(const conf::AppDefinition& def, const std::vector<TaskFacts>& tasks);

// The app's deployment is done: no old or stopping task left, and exactly
// `instances` current tasks, all healthy (and ready).
bool deploymentDone(const conf::AppDefinition& def, const std::vector<TaskFacts>& tasks);

// A task that ended this way counts against the app's launches (backoff):
// it failed, was lost, finished (a service should not), or was killed by its
// agent for failing health checks, and nobody asked it to stop.
bool isLaunchFailure(conf::TaskState state, bool healthKill, bool stopRequested);

// Seconds until the next launch after `failuresInRow` failures in a row:
// backoffSeconds * backoffFactor^(failures-1), at most maxLaunchDelaySeconds.
double launchBackoffSeconds(const conf::AppDefinition& def, int failuresInRow);

}  // namespace corral::scheduler
