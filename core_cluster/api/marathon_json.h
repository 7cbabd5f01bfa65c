// Marathon's JSON of what the scheduler holds: apps, deployments, the launch
// queue, tasks. The scheduler decides; this renders (for the API's answers and
// for the payloads of the events the scheduler publishes). The large responses
// (apps with their tasks, task lists) are text: tasks are written straight to
// a string instead of being built as JSON trees, which keeps
// GET /v2/apps?embed=apps.tasks cheap at thousands of tasks.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
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
// Each app's definition rendered once (what appJson(app) holds, as text) and
// reused until the app changes: a listing of 10,000 apps then costs string
// appends, not 10,000 JSON trees. Every change of an app's definition or
// scale gives it a new version and versionInfo, which key the entry.
class AppRenderCache {
 public:
  // dumpJson(appJson(app)) for the app as it is now.
  const std::string& definitionText(const scheduler::AppState& app);
  // Forgets the entries of apps that are gone.
  void retainOnly(const std::map<std::string, scheduler::AppState>& apps);
  size_t size() const { return entries_.size(); }
  uint64_t renders() const { return renders_; }

 private:
  struct Entry {
    std::string key;  // version, lastConfigChangeAt, lastScalingAt
    std::string text;
  };
  std::unordered_map<std::string, Entry> entries_;
  uint64_t renders_ = 0;
};

// One app object; with tasks embedded when asked. With a cache, the
// definition comes from it.
std::string appJsonText(const scheduler::ServiceScheduler& s, const scheduler::AppState& app,
                        bool embedTasks, bool embedCounts, bool embedDeployments,
                        bool embedLastTaskFailure, AppRenderCache* cache = nullptr);
// Appends the same to out.
void appendAppJson(std::string& out, const scheduler::ServiceScheduler& s,
                   const scheduler::AppState& app, bool embedTasks, bool embedCounts,
                   bool embedDeployments, bool embedLastTaskFailure, AppRenderCache* cache);

}  // namespace corral::api
