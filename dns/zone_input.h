// Plain data the zone is built from. The registry fills it from its
// snapshot; nothing here knows about sockets, JSON or the event stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace corral::dns {

struct MasterInfo {
  std::string ip;
  uint16_t port = 5050;
};

struct AgentInfo {
  std::string id;        // Mesos agent id, e.g. "2f1e...-S3"; its tail names tasks
  std::string hostname;  // as the agent registered
  std::string ip;        // IPv4 or IPv6 literal; "" when unknown
  uint16_t port = 5051;  // agent API port, for _slave._tcp
};

struct PortInfo {
  uint16_t port = 0;             // the host port the task listens on
  std::string name;              // Marathon port name; "" when unnamed
  std::string protocol = "tcp";  // "tcp", "udp", "tcp,udp"; "" means both
};

struct TaskInfo {
  std::string taskId;
  std::string agentId;                // preferred for finding the agent
  std::string agentHostname;          // used when agentId is empty or unknown
  std::string ip;                     // the task's address; "" means the agent's address
  std::vector<std::string> extraIps;  // further addresses (e.g. IPv6 next to IPv4)
  std::vector<PortInfo> ports;
  bool running = true;
  std::optional<bool> healthy;  // unset: no health result yet
};

struct AppInfo {
  std::string appId;  // "/shop/web"
  std::vector<TaskInfo> tasks;
  bool hasHealthChecks = false;
};

struct SoaOptions {
  std::string mname;    // "" -> "ns1.{domain}"
  std::string rname;    // "" -> "root.ns1.{domain}"
  uint32_t serial = 0;  // 0 -> seconds since the epoch when the zone is built
  uint32_t refresh = 60;
  uint32_t retry = 600;
  uint32_t expire = 86400;
  uint32_t minimum = 60;  // negative answers live min(SOA TTL, minimum)
};

struct ZoneOptions {
  uint32_t ttl = 5;  // every record, SOA and NS included
  bool enforceRfc952 = false;
  bool onlyHealthy = true;  // apps with health checks: healthy tasks only
  SoaOptions soa;
  std::vector<std::string> nameServerIps;  // A/AAAA for the SOA mname when in the domain
};

struct ZoneInput {
  std::string domain = "mesos";
  std::string framework = "marathon";
  std::vector<MasterInfo> masters;
  std::string leaderIp;
  uint16_t leaderPort = 5050;
  std::string frameworkIp;     // "" -> leaderIp (the built-in scheduler lives in the master)
  uint16_t frameworkPort = 0;  // 0 -> no _framework._tcp record
  std::vector<AgentInfo> agents;
  std::vector<AppInfo> apps;
  ZoneOptions options;
};

}  // namespace corral::dns
