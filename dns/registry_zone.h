// Turns the registry's catalog snapshot into the DNS zone: from scratch
// (zoneInputFromSnapshot + buildZone) or incrementally (ZoneBuilder).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "dns/zone_input.h"
#include "registry/catalog.h"

namespace corral::dns {

class Zone;
class ZoneAssembler;

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

// One app of the catalog as zone input.
AppInfo appInfoFromApp(const registry::App& app);

// Keeps the zone of the last snapshot and updates it by the snapshot's diff:
// only the apps added, changed or removed are re-encoded (plus the apps on an
// agent whose address changed, and the agent names when the agents changed).
// The zone it returns answers exactly like buildZone(zoneInputFromSnapshot(
// snapshot, naming, knownAgents)). Not thread-safe; the zones it returns are.
class ZoneBuilder {
 public:
  explicit ZoneBuilder(ZoneNaming naming);
  ~ZoneBuilder();
  ZoneBuilder(const ZoneBuilder&) = delete;
  ZoneBuilder& operator=(const ZoneBuilder&) = delete;

  // `diff` is what changed since the snapshot of the previous call. The first
  // call builds everything; so does a call after a failed one. A snapshot that
  // does not follow the previous one (its version is not the next) is
  // compared app by app (shared pointers) instead of trusting `diff`.
  Result<std::shared_ptr<const Zone>> update(const registry::Snapshot& snapshot,
                                             const registry::Diff& diff);
  // Agents from /v1/agents; applied by the next update() (which may then
  // rebuild the agent names and the apps on agents whose address changed).
  void setKnownAgents(std::vector<AgentInfo> agents);

 private:
  struct State;
  ZoneNaming naming_;
  std::vector<AgentInfo> knownAgents_;
  bool knownAgentsChanged_ = true;
  std::unique_ptr<State> state_;  // null until the first successful update
};

}  // namespace corral::dns
