#include "proxy/proxy_worker.h"

namespace corral::proxy {

ProxyWorker::ProxyWorker(Loop& loop, RouteLookup& routes, WorkerOptions options)
    : loop_(loop), routes_(&routes), options_(options), pool_(loop, options.pool), reaper_(loop) {
  options_.session.unrouted = &unrouted_;
}

ProxyWorker::~ProxyWorker() {
  close();
  retired_.clear();
}

Result<int> ProxyWorker::listen(const std::string& host, int port) {
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return makeError(ErrorKind::kInvalid, "cannot listen on '" + host + "': not an IP address");
  }
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_.raw(), listener_);
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc != 0) {
    closeAndDelete(listener_);
    listener_ = nullptr;
    return makeError(ErrorKind::kUnavailable, "cannot listen on " + host + ":" +
                                                  std::to_string(port) + ": " + uv_strerror(rc));
  }
  Status s = startListening();
  if (!s) return s.error();
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  return static_cast<int>(ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
}

Status ProxyWorker::adopt(uv_os_sock_t fd) {
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_.raw(), listener_);
  listener_->data = this;
  int rc = uv_tcp_open(listener_, fd);
  if (rc != 0) {
    closeAndDelete(listener_);
    listener_ = nullptr;
    return makeError(ErrorKind::kUnavailable,
                     std::string("cannot accept on the given socket: ") + uv_strerror(rc));
  }
  return startListening();
}

Status ProxyWorker::startListening() {
  int rc =
      uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 511, [](uv_stream_t* s, int status) {
        if (status != 0) return;
        auto* self = static_cast<ProxyWorker*>(s->data);
        self->onConnection(s, *self->routes_);
      });
  if (rc != 0) {
    closeAndDelete(listener_);
    listener_ = nullptr;
    return makeError(ErrorKind::kUnavailable, std::string("cannot listen: ") + uv_strerror(rc));
  }
  return Status::Ok();
}

void ProxyWorker::acceptFrom(uv_stream_t* listener, RouteLookup& routes) {
  onConnection(listener, routes);
}

void ProxyWorker::onConnection(uv_stream_t* listener, RouteLookup& routes) {
  ConnPtr c(Conn::create(loop_.raw(), options_.session.bufferBytes));
  if (uv_accept(listener, c->stream()) != 0) return;
  ++accepted_;
  if (sessions_.size() >= options_.maxConnections) return;  // closed by ConnPtr
  auto session = std::make_unique<HttpSession>(loop_, routes, pool_, options_.session, std::move(c),
                                               [this](HttpSession* s) { retire(s); });
  HttpSession* raw = session.get();
  sessions_.emplace(raw, std::move(session));
  raw->start();
}

void ProxyWorker::retire(HttpSession* session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  retired_.push_back(std::move(it->second));
  sessions_.erase(it);
  if (!reaper_.active()) reaper_.start(0, 0, [this] { retired_.clear(); });
}

void ProxyWorker::close() {
  if (listener_ != nullptr) {
    closeAndDelete(listener_);
    listener_ = nullptr;
  }
  std::vector<HttpSession*> all;
  all.reserve(sessions_.size());
  for (auto& [raw, owned] : sessions_) all.push_back(raw);
  for (HttpSession* s : all) s->close();  // each retires itself
}

void ProxyWorker::drain() {
  for (auto& [raw, owned] : sessions_) raw->drainAfterResponse();
  pool_.release();
}

}  // namespace corral::proxy
