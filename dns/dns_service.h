// `corral dns` as one object on the control loop: it follows the scheduler's
// event stream (registry::MarathonFollower), turns each snapshot and its diff
// into a zone through a reload::SnapshotPipeline (build, validate, publish or
// keep the last good zone), hands good zones to the DnsServer's workers, polls
// /v1/agents for agents that run no task, and serves Mesos-DNS's HTTP API and
// /metrics. cli/dns_cmd.cc only parses flags into a DnsServiceConfig.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "dns/dns_server.h"
#include "dns/registry_zone.h"

namespace corral::tls {
class Context;
}  // namespace corral::tls

namespace corral {
class Loop;
}

namespace corral::dns {

struct DnsServiceConfig {
  ServerConfig server;  // DNS listeners, workers, forwarding
  ZoneNaming naming;    // domain, framework, record options; naming.masters are followed
  std::string httpHost = "0.0.0.0";
  int httpPort = 8123;              // 0: any free port (see httpPort())
  uint64_t agentPollMs = 5000;      // /v1/agents of a corral master
  uint64_t registryCoalesceMs = 1;  // see registry::FollowerOptions
  // Sent to the masters (registry::FollowerOptions::authorization); "" for none.
  std::string masterAuthorization;
  // HTTPS to the masters (registry::FollowerOptions::tls); null: plain HTTP.
  std::shared_ptr<const tls::Context> masterTls;
};

class DnsService {
 public:
  // Binds the DNS sockets and the HTTP API and starts following; errors
  // (bad address, port in use, no master) come back here.
  static Result<std::unique_ptr<DnsService>> start(Loop& loop, DnsServiceConfig config);
  ~DnsService();
  DnsService(const DnsService&) = delete;
  DnsService& operator=(const DnsService&) = delete;

  // Stops following, polling and the HTTP API, then the DNS workers. Idempotent.
  void stop();

  uint16_t dnsPort() const;
  // Synced with a master and the workers answer from its zone: a takeover
  // waits for this before the old process stops.
  bool ready() const;
  int httpPort() const;
  // The zone the workers serve (the last good one).
  std::shared_ptr<const Zone> zone() const;

 private:
  class Impl;
  explicit DnsService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral::dns
