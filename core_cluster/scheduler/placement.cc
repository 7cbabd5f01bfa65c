#include "core_cluster/scheduler/placement.h"

#include <fmt/format.h>

#include "core_cluster/scheduler/ids.h"
#include "core_cluster/scheduler/launch_payload.h"

namespace corral::scheduler {

Placement::Placement(const std::vector<master::Offer>& offers,
                     std::vector<conf::AgentInfo> everyAgent, int maxTasksPerOffer)
    : everyAgent_(std::move(everyAgent)), maxTasksPerOffer_(maxTasksPerOffer) {
  for (const auto& o : offers) {
    offers_.push_back(OfferState{&o,
                                 o.resources.cpus(),
                                 o.resources.mem(),
                                 o.resources.disk(),
                                 o.resources.ports(),
                                 conf::AgentInfo{o.hostname, o.attributes},
                                 {}});
  }
}

void Placement::addPlaced(const std::string& appId, conf::AgentInfo agent) {
  placed_[appId].push_back(std::move(agent));
}

int Placement::place(const std::string& appId, const conf::AppDefinition& def, int count,
                     size_t start, std::string& waitingReason) {
  if (offers_.empty()) return 0;
  int placed = 0;
  bool progress = true;
  while (placed < count && progress) {
    progress = false;
    for (size_t k = 0; k < offers_.size() && placed < count; ++k) {
      if (placeOne(appId, def, offers_[(start + k) % offers_.size()], waitingReason)) {
        ++placed;
        progress = true;
      }
    }
  }
  return placed;
}

bool Placement::placeOne(const std::string& appId, const conf::AppDefinition& d, OfferState& st,
                         std::string& waitingReason) {
  if (static_cast<int>(st.specs.size()) >= maxTasksPerOffer_) return false;
  const std::string& host = st.offer->hostname;
  if (st.cpus + 1e-9 < d.cpus || st.mem + 1e-9 < d.mem || st.disk + 1e-9 < d.disk) {
    waitingReason =
        fmt::format("insufficient resources on {} (needs cpus {}, mem {}; has cpus {}, mem {})",
                    host, d.cpus, d.mem, st.cpus, st.mem);
    return false;
  }
  auto& placedHere = placed_[appId];
  Status cs = conf::checkConstraints(d.constraints, st.candidate, placedHere, everyAgent_);
  if (!cs.ok()) {
    waitingReason = cs.error().message;
    return false;
  }
  std::vector<int> taskPorts;
  conf::Ranges trial = st.ports;
  if (d.requirePorts) {
    for (const auto& pd : d.portDefinitions) {
      if (!trial.take(static_cast<uint64_t>(pd.port))) {
        waitingReason = "service port " + std::to_string(pd.port) + " is not free on " + host;
        return false;
      }
      taskPorts.push_back(pd.port);
    }
  } else if (!d.portDefinitions.empty()) {
    auto got = trial.allocate(d.portDefinitions.size());
    if (!got.ok()) {
      waitingReason = "not enough free ports on " + host;
      return false;
    }
    for (auto p : *got) taskPorts.push_back(static_cast<int>(p));
  }
  st.ports = trial;
  st.cpus -= d.cpus;
  st.mem -= d.mem;
  st.disk -= d.disk;
  master::TaskLaunchSpec spec;
  spec.taskId = newTaskId(appId);
  spec.appId = appId;
  spec.version = d.version.value_or("");
  spec.cpus = d.cpus;
  spec.mem = d.mem;
  spec.disk = d.disk;
  spec.ports = taskPorts;
  for (const auto& pd : d.portDefinitions) spec.servicePorts.push_back(pd.port);
  spec.launch = launchPayload(d);
  st.specs.push_back(std::move(spec));
  placedHere.push_back(st.candidate);
  return true;
}

}  // namespace corral::scheduler
