#include "dns/dns_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "dns/forwarder.h"
#include "dns/tcp_server.h"
#include "dns/udp_server.h"
#include "dns/worker_context.h"

namespace corral::dns {
namespace {

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

socklen_t addressLength(const sockaddr_storage& addr) {
  return addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

void setPort(sockaddr_storage& addr, uint16_t port) {
  if (addr.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(port);
  }
}

// A bound, non-blocking socket; SO_REUSEPORT so each worker has its own.
Result<int> bindSocket(const sockaddr_storage& addr, int type, bool reusePort) {
  int fd = ::socket(addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return makeError(errnoText("socket"));
  int one = 1;
  if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (type == SOCK_DGRAM) {
    // The default receive buffer (~208 KiB) overflows under bursts of a few
    // thousand queries in flight and the kernel drops them (RcvbufErrors).
    // Best effort, as NSD does: force past rmem_max when allowed.
    int size = 4 << 20;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  if (reusePort && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    Error e = makeError(errnoText("SO_REUSEPORT"));
    ::close(fd);
    return e;
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), addressLength(addr)) != 0) {
    Error e = makeError(errnoText("bind"));
    ::close(fd);
    return e;
  }
  return fd;
}

// Port 0: find a port free for both UDP and TCP (probe sockets without
// SO_REUSEPORT, so we never share a port with another process).
Result<uint16_t> pickFreePort(sockaddr_storage addr) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    setPort(addr, 0);
    auto udp = bindSocket(addr, SOCK_DGRAM, false);
    if (!udp.ok()) return udp.error();
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(*udp, reinterpret_cast<sockaddr*>(&bound), &len);
    uint16_t port =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    setPort(addr, port);
    auto tcp = bindSocket(addr, SOCK_STREAM, false);
    ::close(*udp);
    if (tcp.ok()) {
      ::close(*tcp);
      return port;
    }
  }
  return makeError("no port free for both UDP and TCP");
}

}  // namespace

class DnsServer::Worker {
 public:
  Worker(const ServerConfig& config, std::shared_ptr<const Zone> zone)
      : udp_(ctx_), tcp_(ctx_, TcpLimits{config.maxTcpConnections, config.tcpIdleTimeoutMs, 256}) {
    uv_loop_init(&loop_);
    ctx_.zone = std::move(zone);
    ctx_.options.forwarding = config.forwarding;
    ctx_.options.maxUdpSize = config.maxUdpSize;
    ctx_.metrics = &metrics;
    uv_async_init(&loop_, &zoneAsync_, &Worker::onZone);
    zoneAsync_.data = this;
    uv_async_init(&loop_, &stopAsync_, &Worker::onStop);
    stopAsync_.data = this;
  }

  ~Worker() {
    if (thread_.joinable()) {
      requestStop();
      thread_.join();
    } else if (!loopClosed_) {
      // Never started: close what init opened, on this thread.
      closeAll();
      uv_run(&loop_, UV_RUN_DEFAULT);
      closedCleanly = uv_loop_close(&loop_) == 0;
    }
  }

  // On the caller's thread, before the loop runs.
  Status init(int udpFd, int tcpFd, const ServerConfig& config) {
    if (config.forwarding) {
      auto f = Forwarder::create(&loop_, config.resolvers, config.forwardTimeoutMs);
      if (!f.ok()) {
        ::close(udpFd);
        ::close(tcpFd);
        return f.error();
      }
      forwarder_ = std::move(*f);
      ctx_.forwarder = forwarder_.get();
    }
    Status s = udp_.start(&loop_, udpFd);
    if (!s.ok()) {
      ::close(tcpFd);
      return s;
    }
    return tcp_.start(&loop_, tcpFd);
  }

  void run() {
    thread_ = std::thread([this] {
      uv_run(&loop_, UV_RUN_DEFAULT);
      int rc = uv_loop_close(&loop_);
      if (rc != 0) log::error("dns: worker loop closed with handles left open");
      closedCleanly = rc == 0;
      loopClosed_ = true;
    });
  }

  void post(std::shared_ptr<const Zone> zone, uint64_t version) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      next_ = std::move(zone);
      nextVersion_ = version;
    }
    uv_async_send(&zoneAsync_);
  }

  void requestStop() { uv_async_send(&stopAsync_); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  DnsMetrics metrics;
  std::atomic<uint64_t> applied{1};
  std::atomic<bool> closedCleanly{false};

 private:
  static void onZone(uv_async_t* async) {
    auto* self = static_cast<Worker*>(async->data);
    std::shared_ptr<const Zone> zone;
    uint64_t version;
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      zone = std::move(self->next_);
      version = self->nextVersion_;
    }
    if (!zone) return;
    self->ctx_.zone.swap(zone);  // the old zone is released below, off the lock
    self->applied.store(version, std::memory_order_release);
    self->metrics.countZoneApplied();
  }

  static void onStop(uv_async_t* async) { static_cast<Worker*>(async->data)->closeAll(); }

  void closeAll() {
    if (closing_) return;
    closing_ = true;
    ctx_.stopping = true;
    if (forwarder_) forwarder_->close();
    udp_.close();
    tcp_.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&zoneAsync_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&stopAsync_), nullptr);
  }

  uv_loop_t loop_;
  uv_async_t zoneAsync_;
  uv_async_t stopAsync_;
  WorkerContext ctx_;
  std::unique_ptr<Forwarder> forwarder_;
  UdpServer udp_;
  TcpServer tcp_;
  std::thread thread_;
  std::mutex mutex_;  // guards next_ between publish() and the loop's async callback
  std::shared_ptr<const Zone> next_;
  uint64_t nextVersion_ = 0;
  bool closing_ = false;
  std::atomic<bool> loopClosed_{false};
};

Result<std::unique_ptr<DnsServer>> DnsServer::start(const ServerConfig& config,
                                                    std::shared_ptr<const Zone> zone) {
  if (!zone) return makeError("the DNS server needs a zone to start", "", 500);
  if (config.workers < 1) return makeError("workers must be at least 1", "/workers", 400);
  sockaddr_storage addr{};
  if (uv_ip4_addr(config.address.c_str(), config.port, reinterpret_cast<sockaddr_in*>(&addr)) !=
          0 &&
      uv_ip6_addr(config.address.c_str(), config.port, reinterpret_cast<sockaddr_in6*>(&addr)) !=
          0) {
    return makeError("invalid listen address '" + config.address + "'", "/listen", 400);
  }
  uint16_t port = config.port;
  if (port == 0) {
    auto p = pickFreePort(addr);
    if (!p.ok()) return p.error();
    port = *p;
  }
  setPort(addr, port);

  std::unique_ptr<DnsServer> server(new DnsServer());
  server->port_ = port;
  for (int i = 0; i < config.workers; ++i) {
    auto udp = bindSocket(addr, SOCK_DGRAM, true);
    if (!udp.ok()) {
      return makeError("dns: UDP " + config.address + ":" + std::to_string(port) + ": " +
                       udp.error().message);
    }
    auto tcp = bindSocket(addr, SOCK_STREAM, true);
    if (!tcp.ok()) {
      ::close(*udp);
      return makeError("dns: TCP " + config.address + ":" + std::to_string(port) + ": " +
                       tcp.error().message);
    }
    auto worker = std::make_unique<Worker>(config, zone);
    Status s = worker->init(*udp, *tcp, config);
    server->workers_.push_back(std::move(worker));
    if (!s.ok()) return s.error();  // ~DnsServer closes the workers made so far
  }
  for (auto& w : server->workers_) w->run();
  log::info("dns: serving {} on {}:{} (udp+tcp, {} worker{}{})", zone->domain(), config.address,
            port, config.workers, config.workers == 1 ? "" : "s",
            config.forwarding ? ", forwarding" : "");
  return server;
}

DnsServer::~DnsServer() { stop(); }

uint64_t DnsServer::publish(std::shared_ptr<const Zone> zone) {
  uint64_t version = version_.fetch_add(1) + 1;
  for (auto& w : workers_) w->post(zone, version);
  return version;
}

bool DnsServer::applied(uint64_t version) const {
  for (const auto& w : workers_) {
    if (w->applied.load(std::memory_order_acquire) < version) return false;
  }
  return true;
}

void DnsServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& w : workers_) w->requestStop();
  for (auto& w : workers_) w->join();
}

bool DnsServer::closedCleanly() const {
  for (const auto& w : workers_) {
    if (!w->closedCleanly.load()) return false;
  }
  return true;
}

std::unique_ptr<DnsMetrics> DnsServer::metricsSnapshot() const {
  auto total = std::make_unique<DnsMetrics>();
  for (const auto& w : workers_) total->mergeFrom(w->metrics);
  return total;
}

std::string DnsServer::metricsText() const { return metricsSnapshot()->prometheusText(); }

}  // namespace corral::dns
