#include "dns/dns_server.h"

#include <random>

#include "base/log.h"
#include "dns/forwarder.h"
#include "dns/tcp_server.h"
#include "dns/udp_server.h"
#include "dns/worker_context.h"
#include "reload/worker_pool.h"

namespace corral::dns {
namespace {

// The default receive buffer (~208 KiB) overflows under bursts of a few
// thousand queries in flight and the kernel drops them (RcvbufErrors).
constexpr int kUdpBufferBytes = 4 << 20;

// One worker's DNS: its UDP and TCP servers, its counters and forwarder.
class DnsWorker : public reload::WorkerService {
 public:
  DnsWorker(reload::Worker& worker, const ServerConfig& config)
      : udp_(ctx_),
        tcp_(worker.loop().raw(), ctx_,
             TcpLimits{config.maxTcpConnections, config.tcpIdleTimeoutMs, 256}) {
    ctx_.zone = worker.hold<Zone>();
    ctx_.options.forwarding = config.forwarding;
    ctx_.options.maxUdpSize = config.maxUdpSize;
    ctx_.metrics = &metrics;
    if (config.rrl.ratePerSecond != 0) {
      rrl_ = std::make_unique<ResponseRateLimiter>(config.rrl, std::random_device{}());
      ctx_.rrl = rrl_.get();
    }
  }

  // On the caller's thread, before the loop runs.
  Status startForwarding(reload::Worker& worker, const ServerConfig& config) {
    auto f = Forwarder::create(worker.loop().raw(), config.resolvers, config.forwardTimeoutMs);
    if (!f.ok()) return f.error();
    forwarder_ = std::move(*f);
    ctx_.forwarder = forwarder_.get();
    return Status::Ok();
  }

  void onReady(reload::Worker&, reload::Listener& l) override {
    if (l.endpoint().transport == reload::Transport::kUdp) {
      udp_.onReadable(l.fd());
    } else {
      tcp_.accept(l.stream());
    }
  }

  void onSnapshot(reload::Worker& worker) override {
    ctx_.zone = worker.hold<Zone>();  // the old zone goes when its last query is answered
    metrics.countZoneApplied();
  }

  // A takeover: the sockets stopped being read; answers still being
  // forwarded go out on the UDP socket, TCP clients end their connections.
  size_t openConnections(reload::Worker&) override {
    return tcp_.connections() + (forwarder_ ? forwarder_->pending() : 0);
  }

  void close(reload::Worker&) override {
    ctx_.stopping = true;
    if (forwarder_) forwarder_->close();
    udp_.close();
    tcp_.close();
  }

  DnsMetrics metrics;

 private:
  WorkerContext ctx_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<ResponseRateLimiter> rrl_;
  UdpServer udp_;
  TcpServer tcp_;
};

}  // namespace

DnsServer::DnsServer() = default;

Result<std::unique_ptr<DnsServer>> DnsServer::start(const ServerConfig& config,
                                                    std::shared_ptr<const Zone> zone) {
  if (!zone) return makeError(ErrorKind::kInternal, "the DNS server needs a zone to start");
  reload::PoolOptions options;
  options.workers = config.workers;
  reload::Endpoint udp{config.address, config.port, reload::Transport::kUdp, kUdpBufferBytes};
  reload::Endpoint tcp{config.address, config.port, reload::Transport::kTcp};
  options.listeners = {udp, tcp};
  std::vector<const DnsMetrics*> metrics;
  auto pool = reload::WorkerPool::start(
      options, reload::AnySnapshot::of(zone),
      [&](reload::Worker& w) -> Result<std::unique_ptr<reload::WorkerService>> {
        auto worker = std::make_unique<DnsWorker>(w, config);
        if (config.forwarding) {
          Status s = worker->startForwarding(w, config);
          if (!s.ok()) return s.error();
        }
        metrics.push_back(&worker->metrics);
        return std::unique_ptr<reload::WorkerService>(std::move(worker));
      });
  if (!pool.ok())
    return makeError(pool.error().kind, "dns: " + pool.error().message, pool.error().path);
  std::unique_ptr<DnsServer> server(new DnsServer());
  server->pool_ = std::move(*pool);
  server->workerMetrics_ = std::move(metrics);
  server->port_ = server->pool_->endpoints().begin()->second.port;
  log::info("dns: serving {} on {}:{} (udp+tcp, {} worker{}{})", zone->domain(), config.address,
            server->port_, config.workers, config.workers == 1 ? "" : "s",
            config.forwarding ? ", forwarding" : "");
  return server;
}

DnsServer::~DnsServer() { stop(); }

uint64_t DnsServer::publish(std::shared_ptr<const Zone> zone) {
  return pool_->publish(std::move(zone));
}

bool DnsServer::applied(uint64_t version) const { return pool_->applied(version); }

void DnsServer::stop() {
  if (pool_) pool_->stop();
}

bool DnsServer::closedCleanly() const { return pool_ && pool_->closedCleanly(); }

std::unique_ptr<DnsMetrics> DnsServer::metricsSnapshot() const {
  auto total = std::make_unique<DnsMetrics>();
  for (const DnsMetrics* m : workerMetrics_) total->mergeFrom(*m);
  return total;
}

std::string DnsServer::metricsText() const { return metricsSnapshot()->prometheusText(); }

}  // namespace corral::dns
