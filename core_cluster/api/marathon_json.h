// Fast text rendering of the large Marathon JSON responses (apps with their
// tasks, task lists): tasks are written straight to a string instead of being
// built as JSON trees, which keeps GET /v2/apps?embed=apps.tasks cheap at
// thousands of tasks.
#pragma once

#include <string>
#include <vector>

#include "core_cluster/master/records.h"
#include "core_cluster/scheduler/service_scheduler.h"

namespace corral::api {

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
