// Marathon's readiness checks: an instance of an app with readinessChecks
// counts as up (for a deployment) only once its HTTP probe answered one of the
// ready status codes. Probes run per task, at most one in flight, once per
// intervalSeconds, against the port the check names; a task stays ready until
// it ends. Only the first readiness check of an app is probed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/loop.h"
#include "conf/app_definition.h"
#include "core_cluster/master/records.h"

namespace corral::scheduler {

class ReadinessProbes {
 public:
  // onReady(appId) runs (on the loop) when a task of the app became ready.
  using OnReady = std::function<void(const std::string& appId)>;
  ReadinessProbes(Loop& loop, OnReady onReady);

  // Probes the app's running tasks that are not ready, not probed right now and due.
  void probe(const conf::AppDefinition& def, const std::vector<const master::TaskRecord*>& tasks,
             int64_t nowMs);
  // Some running task of the app is not ready yet: probing has work to do.
  bool pending(const conf::AppDefinition& def,
               const std::vector<const master::TaskRecord*>& tasks) const;
  bool ready(const std::string& taskId) const { return ready_.count(taskId) > 0; }
  // The task ended: forget it.
  void forget(const std::string& taskId);
  size_t inFlight() const { return inFlight_.size(); }

 private:
  Loop& loop_;
  OnReady onReady_;
  std::set<std::string> ready_;
  std::set<std::string> inFlight_;
  std::map<std::string, int64_t> due_;  // task id -> wall ms of its next probe
  CancelGroup checks_;                  // probes in flight; destroyed first (declared last)
};

}  // namespace corral::scheduler
