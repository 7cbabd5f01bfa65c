// One data-plane worker for HTTP: a listener, its HTTP sessions and its
// upstream pool, all on one loop. Kept small so that reload's WorkerPool can
// host it (it may hand over an already bound SO_REUSEPORT socket with
// adopt()). TCP-mode service ports are tcp_frontend's.
// Finished sessions are deleted on a later loop turn, never inside their
// own callbacks.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/loop.h"
#include "base/result.h"
#include "proxy/http_session.h"
#include "proxy/upstream_pool.h"

namespace corral::proxy {

struct WorkerOptions {
  SessionOptions session;
  PoolOptions pool;
  size_t maxConnections = 10000;  // accepted connections beyond it are closed at once
};

class ProxyWorker {
 public:
  // Requests are routed by `routes`.
  ProxyWorker(Loop& loop, RouteLookup& routes, WorkerOptions options);
  ~ProxyWorker();  // closes the listener and every session
  ProxyWorker(const ProxyWorker&) = delete;
  ProxyWorker& operator=(const ProxyWorker&) = delete;

  // Binds host:port (0 picks one) and accepts; returns the bound port.
  Result<int> listen(const std::string& host, int port);
  // Accepts on a socket already bound and listening elsewhere.
  Status adopt(uv_os_sock_t fd);
  // Accepts one waiting connection from a listener owned elsewhere (reload's
  // WorkerPool) and routes its requests with `routes`, which must outlive
  // the worker's sessions.
  void acceptFrom(uv_stream_t* listener, RouteLookup& routes);
  // The certificates for connections accepted from now on (null: plain
  // HTTP); sessions already open keep the store they started with. On the
  // worker's loop thread.
  void setTlsStore(TlsStorePtr store) {
    options_.session.tls = store != nullptr;
    options_.session.tlsStore = std::move(store);
  }
  // Stops accepting and ends every session.
  void close();
  // A takeover: every session ends after its current or next response.
  void drain();

  size_t sessionCount() const { return sessions_.size(); }
  uint64_t accepted() const { return accepted_; }
  UpstreamPool& pool() { return pool_; }
  // Requests no route took (404s, bad requests), on this worker.
  const RouteCounters& unroutedCounters() const { return unrouted_; }

 private:
  Status startListening();
  void onConnection(uv_stream_t* listener, RouteLookup& routes);
  void retire(HttpSession* session);

  Loop& loop_;
  RouteLookup* routes_ = nullptr;
  WorkerOptions options_;
  UpstreamPool pool_;
  uv_tcp_t* listener_ = nullptr;
  std::unordered_map<HttpSession*, std::unique_ptr<HttpSession>> sessions_;
  std::vector<std::unique_ptr<HttpSession>> retired_;
  Timer reaper_;
  uint64_t accepted_ = 0;
  RouteCounters unrouted_;
};

}  // namespace corral::proxy
