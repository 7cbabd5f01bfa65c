#include "dns/registry_zone.h"

#include <arpa/inet.h>

#include <map>
#include <optional>
#include <set>

#include "base/http_client.h"
#include "dns/zone.h"

namespace corral::dns {

namespace {

bool isIpLiteral(const std::string& s) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

// Masters, leader and framework names of `in` from the snapshot's leader.
void fillLeadership(const registry::Snapshot& snapshot, const ZoneNaming& naming, ZoneInput& in) {
  std::string leaderHost;
  int leaderPort = 0;
  if (!snapshot.leader.empty() &&
      http::splitHostPort(snapshot.leader, 8080, &leaderHost, &leaderPort) &&
      isIpLiteral(leaderHost)) {
    in.leaderIp = leaderHost;
    in.leaderPort = static_cast<uint16_t>(leaderPort);
    in.frameworkIp = leaderHost;
    in.frameworkPort = static_cast<uint16_t>(leaderPort);
  }
  for (const auto& m : naming.masters) {
    std::string h;
    int p;
    if (http::splitHostPort(m, 8080, &h, &p) && isIpLiteral(h)) {
      in.masters.push_back(MasterInfo{h, static_cast<uint16_t>(p)});
    }
  }
  if (in.masters.empty() && !in.leaderIp.empty()) {
    in.masters.push_back(MasterInfo{in.leaderIp, in.leaderPort});
  }
}

ZoneInput settingsOf(const ZoneNaming& naming) {
  ZoneInput in;
  in.domain = naming.domain;
  in.framework = naming.framework;
  in.options = naming.options;
  return in;
}

// An agent known only from a task running on it.
AgentInfo agentOfTask(const std::string& agentId, const std::string& host) {
  return AgentInfo{agentId, host, isIpLiteral(host) ? host : "", 5051};
}

bool sameAgent(const AgentInfo& a, const AgentInfo& b) {
  return a.id == b.id && a.hostname == b.hostname && a.ip == b.ip && a.port == b.port;
}

}  // namespace

AppInfo appInfoFromApp(const registry::App& app) {
  AppInfo a;
  a.appId = app.id;
  a.hasHealthChecks = app.hasHealthChecks;
  for (const auto& t : app.tasks) {
    TaskInfo ti;
    ti.taskId = t.id;
    ti.agentId = t.agentId;
    ti.agentHostname = t.host;
    ti.ip = !t.ip.empty() ? t.ip : (isIpLiteral(t.host) ? t.host : "");
    for (size_t i = 1; i < t.ipAddresses.size(); ++i) ti.extraIps.push_back(t.ipAddresses[i]);
    for (size_t i = 0; i < t.ports.size(); ++i) {
      PortInfo p;
      p.port = static_cast<uint16_t>(t.ports[i]);
      if (i < app.portDefinitions.size()) {
        p.name = app.portDefinitions[i].name;
        p.protocol = app.portDefinitions[i].protocol;
      }
      ti.ports.push_back(p);
    }
    ti.running = t.running();
    ti.healthy = t.healthy;
    a.tasks.push_back(std::move(ti));
  }
  return a;
}

ZoneInput zoneInputFromSnapshot(const registry::Snapshot& snapshot, const ZoneNaming& naming,
                                const std::vector<AgentInfo>& knownAgents) {
  ZoneInput in = settingsOf(naming);
  fillLeadership(snapshot, naming, in);
  std::map<std::string, AgentInfo> agents;
  for (const auto& a : knownAgents) {
    if (!a.id.empty()) agents[a.id] = a;
  }
  for (const auto& [id, app] : snapshot.apps) {
    for (const auto& t : app->tasks) {
      if (!t.agentId.empty() && !agents.count(t.agentId)) {
        agents[t.agentId] = agentOfTask(t.agentId, t.host);
      }
    }
    in.apps.push_back(appInfoFromApp(*app));
  }
  for (auto& [id, a] : agents) in.agents.push_back(std::move(a));
  return in;
}

struct ZoneBuilder::State {
  std::unique_ptr<ZoneAssembler> assembler;
  registry::AppMap apps;  // as of the last snapshot (the Apps are shared with it)
  uint64_t version = 0;
  std::string leader;
  std::map<std::string, AgentInfo> known;  // from setKnownAgents, by id
  // Agents learned from tasks: agent id -> app id -> host of that app's first
  // task on it. The first app (in id order) names the agent, as in
  // zoneInputFromSnapshot.
  std::map<std::string, std::map<std::string, std::string>> taskAgents;
  std::map<std::string, AgentInfo> effective;  // the agents the zone has, by id

  std::optional<AgentInfo> effectiveOf(const std::string& id) const {
    auto k = known.find(id);
    if (k != known.end()) return k->second;
    auto t = taskAgents.find(id);
    if (t == taskAgents.end() || t->second.empty()) return std::nullopt;
    return agentOfTask(id, t->second.begin()->second);
  }

  // Adds (or, with `add` false, takes back) what an app tells about agents.
  void learn(const registry::App& app, bool add, std::set<std::string>& touched) {
    std::set<std::string> seen;
    for (const auto& t : app.tasks) {
      if (t.agentId.empty() || !seen.insert(t.agentId).second) continue;
      touched.insert(t.agentId);
      if (add) {
        taskAgents[t.agentId][app.id] = t.host;
        continue;
      }
      auto it = taskAgents.find(t.agentId);
      if (it == taskAgents.end()) continue;
      it->second.erase(app.id);
      if (it->second.empty()) taskAgents.erase(it);
    }
  }
};

ZoneBuilder::ZoneBuilder(ZoneNaming naming) : naming_(std::move(naming)) {}
ZoneBuilder::~ZoneBuilder() = default;

void ZoneBuilder::setKnownAgents(std::vector<AgentInfo> agents) {
  knownAgents_ = std::move(agents);
  knownAgentsChanged_ = true;
}

Result<std::shared_ptr<const Zone>> ZoneBuilder::update(const registry::Snapshot& snapshot,
                                                        const registry::Diff& diff) {
  const bool full = state_ == nullptr;
  if (full) {
    auto assembler = ZoneAssembler::create(settingsOf(naming_));
    if (!assembler.ok()) return assembler.error();
    state_ = std::make_unique<State>();
    state_->assembler = std::move(*assembler);
  }
  State& s = *state_;

  // The apps to look at: every app on the first call, the diff when the
  // snapshot follows the previous one, else a comparison of the app maps.
  std::set<std::string> apps;
  if (full) {
    for (const auto& [id, app] : snapshot.apps) apps.insert(id);
  } else if (snapshot.version == s.version + 1) {
    apps.insert(diff.added.begin(), diff.added.end());
    apps.insert(diff.changed.begin(), diff.changed.end());
    apps.insert(diff.removed.begin(), diff.removed.end());
  } else {
    for (const auto& [id, app] : s.apps) {
      auto it = snapshot.apps.find(id);
      if (it == snapshot.apps.end() || it->second != app) apps.insert(id);
    }
    for (const auto& [id, app] : snapshot.apps) {
      if (!s.apps.count(id)) apps.insert(id);
    }
  }

  // Agents: only those the touched apps run on can change, unless the
  // known agents did.
  std::set<std::string> agentIds;
  for (const std::string& id : apps) {
    auto before = s.apps.find(id);
    if (before != s.apps.end()) s.learn(*before->second, false, agentIds);
    auto after = snapshot.apps.find(id);
    if (after != snapshot.apps.end()) s.learn(*after->second, true, agentIds);
  }
  bool agentsChanged = full;
  if (knownAgentsChanged_) {
    s.known.clear();
    for (const AgentInfo& a : knownAgents_) {
      if (!a.id.empty()) s.known[a.id] = a;
    }
    for (const auto& [id, a] : s.effective) agentIds.insert(id);
    for (const auto& [id, a] : s.known) agentIds.insert(id);
    knownAgentsChanged_ = false;
  }
  for (const std::string& id : agentIds) {
    std::optional<AgentInfo> now = s.effectiveOf(id);
    auto it = s.effective.find(id);
    if (!now) {
      if (it != s.effective.end()) {
        s.effective.erase(it);
        agentsChanged = true;
      }
    } else if (it == s.effective.end() || !sameAgent(it->second, *now)) {
      s.effective[id] = *now;
      agentsChanged = true;
    }
  }
  std::vector<std::string> redo;
  if (agentsChanged) {
    std::vector<AgentInfo> list;
    list.reserve(s.effective.size());
    for (const auto& [id, a] : s.effective) list.push_back(a);
    redo = s.assembler->setAgents(list);
  }
  if (full || snapshot.leader != s.leader) {
    ZoneInput in;
    fillLeadership(snapshot, naming_, in);
    s.assembler->setLeadership(in);
  }

  for (const std::string& id : apps) {
    auto it = snapshot.apps.find(id);
    if (it != snapshot.apps.end()) {
      s.assembler->setApp(appInfoFromApp(*it->second));
    } else {
      s.assembler->removeApp(id);
    }
  }
  for (const std::string& id : redo) {
    if (apps.count(id)) continue;
    auto it = snapshot.apps.find(id);
    if (it != snapshot.apps.end()) s.assembler->setApp(appInfoFromApp(*it->second));
  }
  s.apps = snapshot.apps;  // shares the snapshot's storage: no copy
  s.version = snapshot.version;
  s.leader = snapshot.leader;
  return s.assembler->publish();
}

}  // namespace corral::dns
