// The DNS server: a reload::WorkerPool whose every worker answers from the
// zone in its slot, over its own UDP socket and TCP listener on the same
// address (SO_REUSEPORT). publish() hands a new zone to every worker
// (latest-wins); the query path takes no lock. The sockets and the worker
// loops are reload/'s; the hot paths are dns/udp_server.cc (recvmmsg/sendmmsg
// batches) and dns/tcp_server.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "dns/metrics.h"
#include "dns/resolver.h"
#include "dns/rrl.h"
#include "dns/zone.h"

namespace corral::reload {
class WorkerPool;
}

namespace corral::dns {

struct ServerConfig {
  std::string address = "0.0.0.0";  // IPv4 or IPv6 literal
  uint16_t port = 53;               // 0: any free port (see DnsServer::port())
  int workers = 1;
  bool forwarding = false;
  std::vector<std::string> resolvers;  // "ip", "ip:port", "[v6]:port"
  uint32_t forwardTimeoutMs = 2000;    // then SERVFAIL
  size_t maxUdpSize = kDefaultEdnsSize;
  size_t maxTcpConnections = 1024;  // per worker
  uint32_t tcpIdleTimeoutMs = 10000;
  // Response rate limiting of UDP answers (off when rate is 0); one table
  // per worker.
  RrlConfig rrl;
};

class DnsServer {
 public:
  // Binds every socket, then starts the workers. Errors (bad address, port
  // in use, bad resolvers) come back here, before any thread runs.
  static Result<std::unique_ptr<DnsServer>> start(const ServerConfig& config,
                                                  std::shared_ptr<const Zone> zone);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Hands `zone` to every worker; returns its version. Thread-safe.
  uint64_t publish(std::shared_ptr<const Zone> zone);
  // True once every worker answers from version `version` or newer.
  bool applied(uint64_t version) const;

  uint16_t port() const { return port_; }
  // Stops every worker, closes every handle and joins; idempotent.
  void stop();

  // Counters summed over the workers, as Prometheus text.
  std::string metricsText() const;
  std::unique_ptr<DnsMetrics> metricsSnapshot() const;
  // True when every worker loop closed with no handle left behind.
  bool closedCleanly() const;

 private:
  DnsServer();

  std::unique_ptr<reload::WorkerPool> pool_;
  std::vector<const DnsMetrics*> workerMetrics_;  // owned by the pool's workers
  uint16_t port_ = 0;
};

}  // namespace corral::dns
