// TCP-mode service ports of one worker: each accepted connection is routed
// by its service port, a task port is picked, and a TcpTunnel copies bytes
// both ways. The connection keeps the routing state it was routed with until
// it ends; the outcome of the connect feeds the balancer's passive health.
// Finished tunnels are deleted on a later loop turn, never inside their own
// callbacks.
#pragma once

#include <uv.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "base/loop.h"
#include "proxy/connection.h"
#include "proxy/tcp_tunnel.h"

namespace corral::proxy {

class BackendPicker;
class WorkerRouting;
struct Peer;

class TcpFrontend {
 public:
  TcpFrontend(Loop& loop, WorkerRouting& routing, TunnelOptions options, size_t bufferBytes);
  ~TcpFrontend();
  TcpFrontend(const TcpFrontend&) = delete;
  TcpFrontend& operator=(const TcpFrontend&) = delete;

  // A connection waits on `listener`, the listener of `servicePort`.
  void accept(uv_stream_t* listener, int servicePort);
  // Tunnels an accepted `client` of `servicePort` to a task of the port's
  // TCP route; without one (or without a task) the client is closed.
  void take(ConnPtr client, int servicePort);
  // Ends every tunnel now (worker shutdown).
  void close();
  size_t active() const { return flows_.size(); }

 private:
  struct Flow {
    std::unique_ptr<TcpTunnel> tunnel;
    BackendPicker* picker = nullptr;
    const Peer* peer = nullptr;
    std::shared_ptr<const void> hold;  // the routing state the flow started with
  };
  void finish(Flow* flow, TunnelEnd end);

  Loop& loop_;
  WorkerRouting& routing_;
  TunnelOptions options_;
  size_t bufferBytes_;
  std::unordered_map<Flow*, std::unique_ptr<Flow>> flows_;
  std::vector<std::unique_ptr<Flow>> retired_;
  Timer reaper_;
};

}  // namespace corral::proxy
