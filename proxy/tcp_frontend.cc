#include "proxy/tcp_frontend.h"

#include "proxy/worker_routing.h"

namespace corral::proxy {

TcpFrontend::TcpFrontend(Loop& loop, WorkerRouting& routing, TunnelOptions options,
                         size_t bufferBytes)
    : loop_(loop), routing_(routing), options_(options), bufferBytes_(bufferBytes), reaper_(loop) {}

TcpFrontend::~TcpFrontend() {
  close();
  retired_.clear();
}

void TcpFrontend::accept(uv_stream_t* listener, int servicePort) {
  ConnPtr client(Conn::create(loop_.raw(), bufferBytes_));
  if (uv_accept(listener, client->stream()) != 0) return;
  take(std::move(client), servicePort);
}

void TcpFrontend::take(ConnPtr client, int servicePort) {
  const RouteTarget* target = routing_.snapshot().table->lookupPort(servicePort);
  if (target == nullptr || target->spec->mode != conf::RouteMode::kTcp) {
    routing_.counters().noRoute.fetch_add(1, std::memory_order_relaxed);
    return;  // closed by ConnPtr
  }
  routing_.counters().tcpConnections.fetch_add(1, std::memory_order_relaxed);
  auto flow = std::make_unique<Flow>();
  flow->picker = routing_.pickerFor(*target, &flow->hold);
  std::string clientIp = peerIp(client.get());
  PickContext ctx;
  ctx.clientIp = clientIp;
  flow->peer = flow->picker->pick(ctx);
  if (flow->peer == nullptr) return;  // no task: the client sees the connection closed
  uv_tcp_nodelay(&client->tcp, 1);
  Flow* raw = flow.get();
  TunnelOptions options = options_;
  if (target->spec->timeouts.connectMs)
    options.connectTimeoutMs = *target->spec->timeouts.connectMs;
  if (target->spec->timeouts.tunnelMs) options.idleTimeoutMs = *target->spec->timeouts.tunnelMs;
  flow->tunnel = std::make_unique<TcpTunnel>(loop_, std::move(client), options,
                                             [this, raw](TunnelEnd end) { finish(raw, end); });
  flows_.emplace(raw, std::move(flow));
  raw->tunnel->connect(reinterpret_cast<const sockaddr*>(&raw->peer->address));
}

void TcpFrontend::finish(Flow* flow, TunnelEnd end) {
  auto it = flows_.find(flow);
  if (it == flows_.end()) return;
  if (flow->peer != nullptr) {
    PeerOutcome outcome = PeerOutcome::kOk;
    if (end == TunnelEnd::kConnectFailed) outcome = PeerOutcome::kConnectFailed;
    if (end == TunnelEnd::kConnectTimeout) outcome = PeerOutcome::kConnectTimeout;
    flow->picker->release(*flow->peer, outcome);
    flow->peer = nullptr;
  }
  retired_.push_back(std::move(it->second));
  flows_.erase(it);
  if (!reaper_.active()) reaper_.start(0, 0, [this] { retired_.clear(); });
}

void TcpFrontend::close() {
  for (auto& [raw, flow] : flows_) {
    if (flow->peer != nullptr) flow->picker->release(*flow->peer, PeerOutcome::kAborted);
    flow->peer = nullptr;
  }
  flows_.clear();  // each tunnel closes its connections
  reaper_.stop();
}

}  // namespace corral::proxy
