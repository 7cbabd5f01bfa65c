// The DNS server: N worker threads, each with its own libuv loop, a UDP
// socket and a TCP listener on the same address (SO_REUSEPORT), answering
// from the zone last published to it. publish() hands a new zone to every
// loop through a uv_async_t; the query path takes no lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "dns/metrics.h"
#include "dns/resolver.h"
#include "dns/zone.h"

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
  class Worker;
  DnsServer() = default;

  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint64_t> version_{1};
  uint16_t port_ = 0;
  bool stopped_ = false;
};

}  // namespace corral::dns
