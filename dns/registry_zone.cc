#include "dns/registry_zone.h"

#include <arpa/inet.h>

#include <map>

#include "base/http_client.h"

namespace corral::dns {

namespace {
bool isIpLiteral(const std::string& s) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}
}  // namespace

ZoneInput zoneInputFromSnapshot(const registry::Snapshot& snapshot, const ZoneNaming& naming,
                                const std::vector<AgentInfo>& knownAgents) {
  ZoneInput in;
  in.domain = naming.domain;
  in.framework = naming.framework;
  in.options = naming.options;
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
  std::map<std::string, AgentInfo> agents;
  for (const auto& a : knownAgents) {
    if (!a.id.empty()) agents[a.id] = a;
  }
  for (const auto& [id, app] : snapshot.apps) {
    AppInfo a;
    a.appId = app->id;
    a.hasHealthChecks = app->hasHealthChecks;
    for (const auto& t : app->tasks) {
      TaskInfo ti;
      ti.taskId = t.id;
      ti.agentId = t.agentId;
      ti.agentHostname = t.host;
      ti.ip = !t.ip.empty() ? t.ip : (isIpLiteral(t.host) ? t.host : "");
      for (size_t i = 1; i < t.ipAddresses.size(); ++i) ti.extraIps.push_back(t.ipAddresses[i]);
      for (size_t i = 0; i < t.ports.size(); ++i) {
        PortInfo p;
        p.port = static_cast<uint16_t>(t.ports[i]);
        if (i < app->portDefinitions.size()) {
          p.name = app->portDefinitions[i].name;
          p.protocol = app->portDefinitions[i].protocol;
        }
        ti.ports.push_back(p);
      }
      ti.running = t.running();
      ti.healthy = t.healthy;
      a.tasks.push_back(std::move(ti));
      if (!t.agentId.empty() && !agents.count(t.agentId)) {
        agents[t.agentId] = AgentInfo{t.agentId, t.host, isIpLiteral(t.host) ? t.host : "", 5051};
      }
    }
    in.apps.push_back(std::move(a));
  }
  for (auto& [id, a] : agents) in.agents.push_back(std::move(a));
  return in;
}

}  // namespace corral::dns
