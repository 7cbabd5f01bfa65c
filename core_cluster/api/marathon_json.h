// Marathon's JSON of what the scheduler holds: apps, deployments, the launch
// queue, tasks. The scheduler decides; this renders (for the API's answers and
// for the payloads of the events the scheduler publishes). The large responses
// (apps with their tasks, task lists) are text: tasks are written straight to
// a string instead of being built as JSON trees, which keeps
// GET /v2/apps?embed=apps.tasks cheap at thousands of tasks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/json.h"
#include "core_cluster/master/records.h"
#include "core_cluster/scheduler/scheduler_types.h"

namespace corral::scheduler {
class ServiceScheduler;
}

namespace corral::api {

// The app's definition with its versionInfo (what app events carry).
Json appJson(const scheduler::AppState& app);
// The same with what the scheduler knows about it embedded: task counts,
// its deployment, its last task failure.
Json appJson(const scheduler::ServiceScheduler& s, const scheduler::AppState& app, bool embedCounts,
             bool embedDeployments, bool embedLastTaskFailure);
// A deployment as /v2/deployments lists it: its steps, the one in progress (currentStep is
// 1-based).
Json deploymentJson(const scheduler::Deployment& d);
// GET /v2/queue: every app with instances waiting for an offer.
Json queueJson(const scheduler::ServiceScheduler& s, int64_t nowMs);

// Appends one task object (Marathon's shape) to out.
void appendTaskJson(std::string& out, const master::TaskRecord& t, bool appHasHealthChecks);
// {"tasks":[...]}
std::string tasksJsonText(const scheduler::ServiceScheduler& s,
                          const std::vector<const master::TaskRecord*>& tasks);
// One app object; with tasks embedded when asked.
std::string appJsonText(const scheduler::ServiceScheduler& s, const scheduler::AppState& app,
                        bool embedTasks, bool embedCounts, bool embedDeployments,
                        bool embedLastTaskFailure);

}  // namespace corral::api
