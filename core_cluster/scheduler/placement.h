// Placement: which offer each waiting instance of an app goes to. Instances
// go round-robin over the offers (one per offer per pass) so an app spreads
// over the agents instead of filling the first one; each must fit the offer's
// cpus, mem, disk and ports, the app's constraints (given where its tasks
// already run) and the per-offer cap. It only decides: the scheduler accepts
// or declines the offers with the specs placed on them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "conf/app_definition.h"
#include "conf/constraints.h"
#include "conf/resources.h"
#include "core_cluster/master/scheduler_api.h"

namespace corral::scheduler {

class Placement {
 public:
  // everyAgent: every agent known (GROUP_BY constraints count their values).
  Placement(const std::vector<master::Offer>& offers, std::vector<conf::AgentInfo> everyAgent,
            int maxTasksPerOffer);

  // One of the app's tasks already runs on this agent (constraints count it).
  void addPlaced(const std::string& appId, conf::AgentInfo agent);

  // Places up to `count` instances of the app, passes over the offers starting
  // at offer `start` (mod the number of offers). Returns how many were placed;
  // each refusal overwrites waitingReason with why (the last one is kept).
  int place(const std::string& appId, const conf::AppDefinition& def, int count, size_t start,
            std::string& waitingReason);

  size_t offerCount() const { return offers_.size(); }
  const master::Offer& offer(size_t i) const { return *offers_[i].offer; }
  // The tasks placed on offer i, in placement order.
  const std::vector<master::TaskLaunchSpec>& specs(size_t i) const { return offers_[i].specs; }

 private:
  struct OfferState {
    const master::Offer* offer;
    double cpus, mem, disk;
    conf::Ranges ports;
    conf::AgentInfo candidate;
    std::vector<master::TaskLaunchSpec> specs;
  };
  bool placeOne(const std::string& appId, const conf::AppDefinition& def, OfferState& st,
                std::string& waitingReason);

  std::vector<OfferState> offers_;
  std::vector<conf::AgentInfo> everyAgent_;
  std::map<std::string, std::vector<conf::AgentInfo>> placed_;  // app id -> agents of its tasks
  int maxTasksPerOffer_;
};

}  // namespace corral::scheduler
