#include "proxy/proxy_service.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <map>

#include "base/http_server.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "proxy/access_log.h"
#include "proxy/admin.h"
#include "proxy/proxy_snapshot.h"
#include "proxy/proxy_worker.h"
#include "proxy/routing_builder.h"
#include "proxy/tcp_frontend.h"
#include "proxy/tls_context.h"
#include "proxy/worker_routing.h"
#include "registry/marathon_follower.h"
#include "reload/process_sockets.h"
#include "reload/snapshot_pipeline.h"
#include "reload/sockets.h"
#include "reload/worker_pool.h"

namespace corral::proxy {

namespace {

// How stale /stats's per-route status classes and latencies may be.
// With WorkerRouting::kStatsPerPublish routes a call: ~5k routes' counters a
// second, each call well under 0.5 ms of the worker's time.
constexpr uint64_t kStatsPublishMs = 50;

// What one pool worker runs: the HTTP sessions (frontend and HTTP service
// ports), the TCP tunnels (TCP service ports) and the routing state they
// share. Made on the control thread before the worker's thread starts;
// every other call is on the worker's loop.
class ProxyWorkerService : public reload::WorkerService {
 public:
  ProxyWorkerService(reload::Worker& worker, std::string frontendKey,
                     std::shared_ptr<AccessLogFile> accessLogFile)
      : loop_(worker.loop()),
        frontendKey_(std::move(frontendKey)),
        routing_(worker.loop(), worker.index()),
        frontend_(routing_),
        accessLog_(accessLogFile ? std::make_unique<AccessLog>(worker.loop(), accessLogFile)
                                 : nullptr),
        http_(std::make_unique<ProxyWorker>(worker.loop(), frontend_, workerOptions())),
        https_(std::make_unique<ProxyWorker>(worker.loop(), frontend_, workerOptions())),
        tcp_(std::make_unique<TcpFrontend>(worker.loop(), routing_, TunnelOptions{},
                                           SessionOptions{}.bufferBytes)) {
    // A replaced task's idle connections close when its route lets it go,
    // and their buffers serve the connections to the task that replaced it.
    routing_.setOnPeerGone([this](uint64_t peerId) {
      if (http_) http_->pool().forget(peerId);
      if (https_) https_->pool().forget(peerId);
    });
  }

  // Teardown ends sessions, which let go of peers: no pool is told then.
  ~ProxyWorkerService() override { routing_.setOnPeerGone(nullptr); }

  void onReady(reload::Worker&, reload::Listener& listener) override {
    if (!http_) return;
    if (listener.endpoint().key() == frontendKey_) {
      http_->acceptFrom(listener.stream(), frontend_);
      return;
    }
    if (listener.endpoint().key() == httpsKey_) {
      https_->acceptFrom(listener.stream(), frontend_);
      return;
    }
    int port = listener.endpoint().port;
    const RouteTarget* target = routing_.snapshot().table->lookupPort(port);
    if (target != nullptr && target->spec->mode == conf::RouteMode::kHttp) {
      auto& lookup = portLookups_[port];
      if (!lookup) lookup = std::make_unique<PortLookup>(routing_, port);
      http_->acceptFrom(listener.stream(), *lookup);
      return;
    }
    tcp_->accept(listener.stream(), port);  // closes it when the port has no TCP route
  }

  void onSnapshot(reload::Worker& worker) override {
    routing_.install(worker.hold<ProxySnapshot>());
    if (statsTimer_ && !statsTimer_->active()) {
      statsTimer_->start(kStatsPublishMs, kStatsPublishMs,
                         [this] { routing_.publishRouteStats(); });
    }
  }

  // From the control thread: the HTTPS listener's key and the certificates
  // for its new connections. Posted before the listener is added, so a
  // worker never accepts on it without a store (posts run in order).
  void postTls(std::string httpsKey, TlsStorePtr store) {
    loop_.post([this, key = std::move(httpsKey), store = std::move(store)] {
      httpsKey_ = key;
      if (https_) https_->setTlsStore(store);
    });
  }

  // A takeover: listeners stopped; keep-alive sessions end after a response,
  // tunnels and WebSockets run until they end (or the drain timeout).
  void drain(reload::Worker&) override {
    if (http_) http_->drain();
    if (https_) https_->drain();
  }
  size_t openConnections(reload::Worker&) override {
    if (!http_) return 0;
    return http_->sessionCount() + https_->sessionCount() + tcp_->active();
  }

  void close(reload::Worker&) override {
    // Sessions and tunnels first: they hold pickers of routing_.
    routing_.setOnPeerGone(nullptr);
    http_.reset();
    https_.reset();
    tcp_.reset();
    accessLog_.reset();  // writes out its last lines
    statsTimer_.reset();
  }

  const WorkerCounters& counters() { return routing_.counters(); }
  // Per-route exchange counters as last published (any thread).
  std::map<BackendKey, RouteCounters> routeStats() const { return routing_.routeStats(); }

 private:
  WorkerOptions workerOptions() const {
    WorkerOptions options;
    options.session.accessLog = accessLog_.get();
    return options;
  }

  Loop& loop_;
  std::string frontendKey_;
  std::string httpsKey_;  // "" until the HTTPS listener opens
  WorkerRouting routing_;
  FrontendLookup frontend_;
  std::map<int, std::unique_ptr<PortLookup>> portLookups_;  // live as long as the sessions
  std::unique_ptr<AccessLog> accessLog_;                    // null: off; outlives the sessions
  std::unique_ptr<ProxyWorker> http_;
  std::unique_ptr<ProxyWorker> https_;
  std::unique_ptr<TcpFrontend> tcp_;
  // Copies queued per-route counters for /stats every kStatsPublishMs.
  std::unique_ptr<Timer> statsTimer_ = std::make_unique<Timer>(loop_);
};

}  // namespace

class ProxyService::Impl {
 public:
  Impl(Loop& loop, ProxyServiceConfig config)
      : loop_(loop), config_(std::move(config)), builder_(config_.labels), tlsTimer_(loop) {}

  ~Impl() { stop(); }

  Status start() {
    if (!config_.accessLog.empty()) {
      auto file = AccessLogFile::open(config_.accessLog);
      if (!file.ok()) return file.error();
      accessLogFile_ = std::move(*file);
    }
    reload::PoolOptions po;
    po.workers = config_.workers;
    if (!config_.httpHost.empty()) {
      reload::Endpoint http{config_.httpHost, static_cast<uint16_t>(config_.httpPort),
                            reload::Transport::kTcp};
      frontendKey_ = http.key();
      po.listeners.push_back(http);
    }
    auto pool = reload::WorkerPool::start(
        po, reload::AnySnapshot::of<ProxySnapshot>(builder_.current()),
        [this](reload::Worker& w) -> Result<std::unique_ptr<reload::WorkerService>> {
          return std::unique_ptr<reload::WorkerService>(
              std::make_unique<ProxyWorkerService>(w, frontendKey_, accessLogFile_));
        });
    if (!pool.ok()) return pool.error();
    pool_ = std::move(*pool);
    if (!frontendKey_.empty()) httpPort_ = pool_->endpoints().at(frontendKey_).port;

    registry::FollowerOptions fo;
    fo.masters = config_.masters;
    fo.authorization = config_.masterAuthorization;
    fo.tls = config_.masterTls;
    fo.metricsLabels = "consumer=\"proxy\"";
    fo.coalesceMs = config_.registryCoalesceMs;
    auto follower = registry::MarathonFollower::create(loop_, fo);
    if (!follower.ok()) return follower.error();
    follower_ = std::move(*follower);

    pipeline_ = std::make_unique<reload::SnapshotPipeline>(
        loop_, reload::PipelineOptions{"corral_proxy", "routes", nullptr},
        reload::SnapshotPipeline::typed<ProxySnapshot>(
            [this](const registry::Snapshot& s, const registry::Diff& d) {
              return builder_.update(s, d);
            }),
        [this](const reload::AnySnapshot& built) {
          uint64_t version = pool_->publish(built);
          publishedVersion_ = version;
          reconcileListeners(*built.as<ProxySnapshot>());
          refreshTls(false);
          return version;
        });

    admin_ = std::make_unique<http::Server>(
        loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          ex->respond(adminResponse(req, adminView()));
        });
    // Through reload's ProcessSockets: a takeover hands the admin port over too.
    auto socket =
        reload::ProcessSockets::get().controlListener(config_.adminHost, config_.adminPort);
    if (!socket.ok())
      return makeError(socket.error().kind, "admin listener: " + socket.error().message);
    auto bound = admin_->adopt(socket->release());
    if (!bound.ok())
      return makeError(bound.error().kind, "admin listener: " + bound.error().message);
    adminPort_ = *bound;

    follower_->subscribe([this](std::shared_ptr<const registry::Snapshot> snap,
                                const registry::Diff& diff) { pipeline_->offer(snap, diff); });
    follower_->start();
    if (!config_.httpsHost.empty()) {
      refreshTls(false);
      tlsTimer_.start(config_.tlsReloadMs, config_.tlsReloadMs, [this] { refreshTls(true); });
    }
    log::info("proxy: {} worker(s), HTTP frontend {}, admin {}:{}, group(s) {}; following {}",
              config_.workers,
              frontendKey_.empty() ? std::string("off")
                                   : fmt::format("{}:{}", config_.httpHost, httpPort_),
              config_.adminHost, adminPort_, fmt::join(config_.labels.groups, ","),
              fmt::join(config_.masters, ","));
    return Status::Ok();
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    tlsTimer_.stop();
    if (follower_) follower_->stop();
    if (admin_) admin_->close();
    if (pool_) {
      pool_->stop();
      if (!pool_->closedCleanly()) log::error("proxy: a worker loop ended with handles open");
    }
  }

  std::shared_ptr<const ProxySnapshot> snapshot() const {
    auto s = pipeline_ ? pipeline_->lastGood<ProxySnapshot>() : nullptr;
    return s ? s : builder_.current();
  }
  int httpPort() const { return httpPort_; }
  int adminPort() const { return adminPort_; }
  int httpsPort() const { return httpsPort_; }
  // Serving what the loaded catalog says: the published routes were built from
  // a synced registry snapshot (generation > 0; the start publishes an empty
  // table from snapshot 0 first), every worker applied them and the listeners.
  // A takeover accepts nothing before this: with only the empty table applied
  // it answered "no route" while the first real build ran (seen at 10k routes).
  bool ready() const {
    return !stopped_ && follower_->current()->version > 0 && pipeline_->generation() > 0 &&
           publishedVersion_ > 0 && pool_->applied(publishedVersion_) &&
           pool_->listenersApplied(pool_->listenerChanges());
  }

 private:
  // The HTTPS certificates wanted now: --cert-dir and every routed app's
  // HAPROXY_{n}_SSL_CERT files (each once, in app order).
  TlsConfig wantedTls() const {
    TlsConfig want;
    want.certDir = config_.certDir;
    for (const auto& [id, report] : builder_.reports()) {
      for (const conf::RouteSpec& spec : report.specs) {
        if (!spec.routed()) continue;
        for (const std::string& path : spec.sslCerts) {
          if (std::find(want.certFiles.begin(), want.certFiles.end(), path) ==
              want.certFiles.end()) {
            want.certFiles.push_back(path);
          }
        }
      }
    }
    return want;
  }

  // Rebuilds the certificate store when the wanted files changed (or, with
  // checkDisk, when a file changed on disk), hands it to every worker and
  // opens the HTTPS listener once there is one. A store that fails to load
  // is logged once and the last good one stays.
  void refreshTls(bool checkDisk) {
    if (config_.httpsHost.empty() || stopped_ || !pool_) return;
    TlsConfig want = wantedTls();
    bool sameFiles = tls_ && tls_->config().certFiles == want.certFiles &&
                     tls_->config().certDir == want.certDir;
    if (sameFiles && !checkDisk && httpsPort_ != 0) return;
    // build's error names the bad file, or says that there is no file at all.
    Result<TlsStorePtr> next = sameFiles ? reloadTlsStore(tls_) : TlsStore::build(want);
    if (!next.ok()) {
      std::string why = next.error().message;
      if (why != tlsError_) {
        tlsError_ = why;
        if (httpsPort_ == 0) {
          log::warn("https listener {}:{} not opened: {}", config_.httpsHost, config_.httpsPort,
                    why);
        } else {
          log::error("TLS certificates not reloaded, keeping the last good ones: {}", why);
        }
      }
      return;
    }
    tlsError_.clear();
    bool changed = *next != tls_;
    tls_ = *next;
    if (changed && httpsPort_ != 0) {
      for (int i = 0; i < pool_->size(); ++i) worker(i).postTls(httpsKey_, tls_);
      log::info("TLS certificates loaded: {} file(s)", tls_->certificates().size());
    }
    if (httpsPort_ == 0) openHttps();
  }

  void openHttps() {
    reload::Endpoint endpoint{config_.httpsHost, static_cast<uint16_t>(config_.httpsPort),
                              reload::Transport::kTcp};
    if (endpoint.port == 0) {
      auto port = reload::pickFreePort(endpoint.host, {endpoint.transport});
      if (!port.ok()) {
        logHttpsError(port.error().message);
        return;
      }
      endpoint.port = *port;
    }
    for (int i = 0; i < pool_->size(); ++i) worker(i).postTls(endpoint.key(), tls_);
    auto opened = pool_->addListener(endpoint);
    if (!opened.ok()) {
      logHttpsError(opened.error().message);
      return;
    }
    httpsKey_ = opened->key();
    httpsPort_ = opened->port;
    log::info("https listener open on {} with {} certificate file(s)", opened->describe(),
              tls_->certificates().size());
  }

  void logHttpsError(const std::string& why) {
    if (why == tlsError_) return;
    tlsError_ = why;
    log::error("https listener {}:{}: {}", config_.httpsHost, config_.httpsPort, why);
  }

  ProxyWorkerService& worker(int i) { return static_cast<ProxyWorkerService&>(pool_->service(i)); }

  // One listener per service port of the table: opens the new ones and
  // closes the removed ones; the others are not touched.
  void reconcileListeners(const ProxySnapshot& snapshot) {
    if (snapshot.table.get() == listenedTable_) return;  // no route changed
    listenedTable_ = snapshot.table.get();
    std::map<int, reload::Endpoint> wanted;
    snapshot.table->forEachPort([&](int port, const RouteTarget& target) {
      const std::string& bind = target.spec->bindAddr;
      std::string host = bind.empty() || bind == "*" ? config_.serviceHost : bind;
      wanted[port] = reload::Endpoint{host, static_cast<uint16_t>(port), reload::Transport::kTcp};
    });
    for (auto it = servicePorts_.begin(); it != servicePorts_.end();) {
      auto w = wanted.find(it->first);
      if (w != wanted.end() && w->second.key() == it->second) {
        ++it;
        continue;
      }
      Status s = pool_->removeListener(it->second);
      log::info("service port {} closed{}", it->first, s.ok() ? "" : ": " + s.error().message);
      it = servicePorts_.erase(it);
    }
    for (auto it = listenerErrors_.begin(); it != listenerErrors_.end();) {
      it = wanted.count(it->first) ? std::next(it) : listenerErrors_.erase(it);
    }
    for (const auto& [port, endpoint] : wanted) {
      if (servicePorts_.count(port)) continue;
      auto opened = pool_->addListener(endpoint);
      if (!opened.ok()) {
        std::string& why = listenerErrors_[port];
        if (why != opened.error().message) {
          why = opened.error().message;
          log::error("service port {}: {}", port, why);
        }
        continue;
      }
      listenerErrors_.erase(port);
      servicePorts_[port] = opened->key();
      log::info("service port {} open on {}", port, opened->describe());
    }
  }

  AdminView adminView() const {
    AdminView v;
    v.builder = &builder_;
    v.snapshot = snapshot();
    for (int i = 0; i < pool_->size(); ++i) {
      auto& service = static_cast<ProxyWorkerService&>(pool_->service(i));
      v.workers.push_back(&service.counters());
      for (const auto& [key, counters] : service.routeStats()) v.routeStats[key] += counters;
    }
    v.servicePorts = servicePorts_;
    v.listenerErrors = listenerErrors_;
    v.published = pipeline_->published();
    v.rejected = pipeline_->rejected();
    v.lastError = pipeline_->lastError();
    v.synced = follower_->current()->version > 0;
    v.baseMetrics = metrics::global().render();
    return v;
  }

  Loop& loop_;
  ProxyServiceConfig config_;
  RoutingBuilder builder_;
  std::shared_ptr<AccessLogFile> accessLogFile_;  // null: no access log
  std::string frontendKey_;
  std::unique_ptr<reload::WorkerPool> pool_;
  std::unique_ptr<registry::MarathonFollower> follower_;
  std::unique_ptr<reload::SnapshotPipeline> pipeline_;
  std::unique_ptr<http::Server> admin_;
  std::map<int, std::string> servicePorts_;    // open: port -> listener key
  std::map<int, std::string> listenerErrors_;  // port -> why it could not open
  const RouteTable* listenedTable_ = nullptr;
  Timer tlsTimer_;
  TlsStorePtr tls_;       // the certificates the workers have (null: none yet)
  std::string tlsError_;  // last TLS problem logged (each is logged once)
  std::string httpsKey_;
  int httpsPort_ = 0;  // 0: the HTTPS listener is not open
  int httpPort_ = 0;
  int adminPort_ = 0;
  uint64_t publishedVersion_ = 0;  // pool version of the last published build
  bool stopped_ = false;
};

ProxyService::ProxyService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProxyService::~ProxyService() = default;

Result<std::unique_ptr<ProxyService>> ProxyService::start(Loop& loop, ProxyServiceConfig config) {
  if (config.masters.empty())
    return makeError(ErrorKind::kInvalid, "no master to follow", "/masters");
  if (config.workers < 1)
    return makeError(ErrorKind::kInvalid, "workers must be at least 1", "/workers");
  auto impl = std::make_unique<Impl>(loop, std::move(config));
  Status s = impl->start();
  if (!s.ok()) return s.error();
  return std::unique_ptr<ProxyService>(new ProxyService(std::move(impl)));
}

void ProxyService::stop() { impl_->stop(); }
int ProxyService::httpPort() const { return impl_->httpPort(); }
int ProxyService::adminPort() const { return impl_->adminPort(); }
int ProxyService::httpsPort() const { return impl_->httpsPort(); }
std::shared_ptr<const ProxySnapshot> ProxyService::snapshot() const { return impl_->snapshot(); }
bool ProxyService::ready() const { return impl_->ready(); }

}  // namespace corral::proxy
