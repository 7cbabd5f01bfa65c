#include "proxy/connection.h"

namespace corral::proxy {

Conn* Conn::create(uv_loop_t* loop, size_t bufSize) {
  auto* c = new Conn;
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->buf.reset(new char[bufSize]);
  c->bufSize = bufSize;
  return c;
}

int Conn::startReading(uv_read_cb cb) {
  return uv_read_start(
      stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* out) {
        auto* c = static_cast<Conn*>(h->data);
        out->base = c->buf.get() + c->filled;
        out->len = c->bufSize - c->filled;
      },
      cb);
}

int Conn::connect(const sockaddr* to, uv_connect_cb cb) {
  uv_tcp_nodelay(&tcp, 1);
  return uv_tcp_connect(&connectReq, &tcp, to, cb);
}

void Conn::close() {
  owner = nullptr;
  if (uv_is_closing(handle())) return;
  uv_close(handle(), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
}

std::string peerIp(Conn* c) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  char ip[64] = {0};
  if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  if (ss.ss_family == AF_INET) {
    uv_ip4_name(reinterpret_cast<sockaddr_in*>(&ss), ip, sizeof(ip));
  } else {
    uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&ss), ip, sizeof(ip));
  }
  return ip;
}

int localPort(Conn* c) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (uv_tcp_getsockname(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace corral::proxy
