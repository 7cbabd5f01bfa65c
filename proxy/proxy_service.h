// `corral proxy` as one object on the control loop, in the shape of
// dns::DnsService: it follows the scheduler's event stream
// (registry::MarathonFollower), turns each snapshot and its diff into a
// ProxySnapshot through a reload::SnapshotPipeline (proxy::RoutingBuilder:
// incremental per changed app; a build error keeps the last good one),
// publishes it to a reload::WorkerPool whose workers serve HTTP and TCP, and
// keeps one listener per service port of the published table (a new port
// opens just its listener, a removed one closes just its own). The admin
// listener (/metrics, /routes, /healthz, /config, /stats) runs on the
// control loop. cli/proxy_cmd.cc only parses flags into a ProxyServiceConfig.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "conf/proxy_labels.h"

namespace corral::tls {
class Context;
}  // namespace corral::tls

namespace corral {
class Loop;
}

namespace corral::proxy {

struct ProxySnapshot;

struct ProxyServiceConfig {
  std::vector<std::string> masters;  // "host:port" of Marathon / corral masters
  conf::ProxyLabelOptions labels;    // --group, --strict-mode
  int workers = 1;
  std::string httpHost = "0.0.0.0";  // the vhost/path frontend; empty: none
  int httpPort = 80;                 // 0: any free port (see httpPort())
  // The HTTPS frontend (same routes as httpHost); empty: none. It opens once
  // a certificate is available: the *.pem files of certDir and every routed
  // app's HAPROXY_{n}_SSL_CERT files, re-read when that set or a file changes.
  std::string httpsHost;
  int httpsPort = 443;  // 0: any free port (see httpsPort())
  std::string certDir;
  uint64_t tlsReloadMs = 5000;          // how often certificate files are checked
  std::string serviceHost = "0.0.0.0";  // service port listeners whose BIND_ADDR is "*"
  std::string adminHost = "0.0.0.0";
  int adminPort = 9090;  // 0: any free port
  uint64_t registryCoalesceMs = 1;
  // --access-log: "" off, "-" standard output, else a file appended to.
  std::string accessLog;
  // Sent to the masters (registry::FollowerOptions::authorization); "" for none.
  std::string masterAuthorization;
  // HTTPS to the masters (registry::FollowerOptions::tls); null: plain HTTP.
  std::shared_ptr<const tls::Context> masterTls;
};

class ProxyService {
 public:
  // Binds the frontend and admin listeners, starts the workers and follows
  // the masters; errors (bad address, port in use, no master) come back here.
  static Result<std::unique_ptr<ProxyService>> start(Loop& loop, ProxyServiceConfig config);
  ~ProxyService();
  ProxyService(const ProxyService&) = delete;
  ProxyService& operator=(const ProxyService&) = delete;

  // Stops following and the admin listener, then closes every listener and
  // connection of the workers. Idempotent.
  void stop();

  int httpPort() const;
  int adminPort() const;
  // 0 while the HTTPS frontend is not open.
  int httpsPort() const;
  // Synced with a master, and the workers serve its routes and service
  // ports: a takeover waits for this before the old process stops.
  bool ready() const;
  // The snapshot last published to the workers.
  std::shared_ptr<const ProxySnapshot> snapshot() const;

 private:
  class Impl;
  explicit ProxyService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral::proxy
