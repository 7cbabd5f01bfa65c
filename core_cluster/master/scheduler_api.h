// Two-level scheduling: the master offers agents' free resources to the
// schedulers registered with it; a scheduler accepts an offer (launching
// tasks on it) or declines it for a while. The built-in service scheduler is
// one implementation; another could be added without touching the allocator.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "conf/resources.h"
#include "core_cluster/master/records.h"

namespace corral::master {

struct Offer {
  std::string id;
  std::string agentId;
  std::string hostname;
  conf::Resources resources;  // free at the time of the offer
  conf::Attributes attributes;
};

// A task a scheduler wants launched from an offer.
struct TaskLaunchSpec {
  std::string taskId;
  std::string appId;
  std::string version;
  double cpus = 0, mem = 0, disk = 0;
  std::vector<int> ports;         // taken from the offer's port ranges
  std::vector<int> servicePorts;  // for display in the API
  Json launch;                    // the agent's launch payload (cmd, env, checks...)
};

class SchedulerDriver {
 public:
  virtual ~SchedulerDriver() = default;
  // Launches tasks on the offer's agent; unused resources return to the pool.
  // Durable before it returns; false when the offer is gone or the tasks do not fit.
  virtual Result<bool> acceptOffer(const std::string& offerId,
                                   const std::vector<TaskLaunchSpec>& tasks) = 0;
  // The agent will not be offered to this scheduler again for refuseSeconds.
  virtual void declineOffer(const std::string& offerId, double refuseSeconds) = 0;
  virtual void killTask(const std::string& taskId, std::optional<double> gracePeriodSeconds) = 0;
  // Clears every decline filter (new work arrived).
  virtual void reviveOffers() = 0;
  // The tasks this scheduler launched that the master still tracks.
  virtual std::vector<const TaskRecord*> tasks() const = 0;
  // The tasks of one app: costs what that app has, whatever the others hold.
  virtual std::vector<const TaskRecord*> tasksOfApp(const std::string& appId) const = 0;
  virtual const TaskRecord* task(const std::string& taskId) const = 0;
  virtual const AgentRecord* agent(const std::string& agentId) const = 0;
  virtual std::vector<const AgentRecord*> agents() const = 0;
  // Forgets a terminal task (after the scheduler has recorded what it needs).
  virtual void expungeTask(const std::string& taskId) = 0;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string name() const = 0;
  virtual void registered(SchedulerDriver* driver) = 0;
  virtual void resourceOffers(const std::vector<Offer>& offers) = 0;
  virtual void offerRescinded(const std::string& offerId) = 0;
  // A task changed: state, health or reason (task.reason says why). `previousState` is the old
  // state.
  virtual void statusUpdate(const TaskRecord& task, conf::TaskState previousState,
                            std::optional<bool> previousHealthy) = 0;
};

}  // namespace corral::master
