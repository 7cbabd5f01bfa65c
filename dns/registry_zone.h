// Turns the registry's catalog snapshot into the DNS zone input (plain data).
#pragma once

#include "dns/zone_input.h"
#include "registry/catalog.h"

namespace corral::dns {

struct ZoneNaming {
  std::string domain = "mesos";
  std::string framework = "marathon";
  ZoneOptions options;
  std::vector<std::string> masters;  // "host:port" of the masters, for master/leader names
};

// Agents are learned from the tasks (Marathon reports each task's host and
// slaveId); the leader is the scheduler the registry follows.
// `knownAgents` adds agents that run no task (a corral master lists them at
// /v1/agents; a real Marathon does not, and then only task hosts are known).
ZoneInput zoneInputFromSnapshot(const registry::Snapshot& snapshot, const ZoneNaming& naming,
                                const std::vector<AgentInfo>& knownAgents = {});

}  // namespace corral::dns
