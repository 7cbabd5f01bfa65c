// One TCP connection of the proxy's data plane: the libuv handle together
// with the requests and the read buffer that must outlive it, in one
// allocation freed only in the handle's close callback. Ownership passes
// between session, pool and tunnel by handing over the pointer and setting
// `owner`; callbacks that arrive after the owner let go (cancelled writes at
// close) see owner == nullptr and touch nothing else.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace corral::proxy {

struct Conn {
  uv_tcp_t tcp;  // first member: the close callback casts the handle back
  uv_connect_t connectReq;
  uv_write_t writeReq;
  uv_shutdown_t shutdownReq;
  void* owner = nullptr;
  // The one read buffer of this connection, reused for every read: reads
  // land at buf[filled..]; unconsumed bytes stay at the front.
  std::unique_ptr<char[]> buf;
  size_t bufSize = 0;
  size_t filled = 0;
  // Upstream connections: the stable id of the backend they go to.
  uint64_t backendId = 0;

  // An initialised, unconnected handle (uv_tcp_init) with its buffer.
  static Conn* create(uv_loop_t* loop, size_t bufSize);
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&tcp); }
  // Starts reading into the buffer's free tail.
  int startReading(uv_read_cb cb);
  // Starts a connect with TCP_NODELAY set (requests and small answers must
  // not wait for Nagle).
  int connect(const sockaddr* to, uv_connect_cb cb);
  // Closes the handle (pending requests are cancelled) and frees everything
  // in the close callback. Safe to call once per connection.
  void close();
};

// Conn::close as a deleter, for unique_ptr members.
struct ConnCloser {
  void operator()(Conn* c) const {
    if (c) c->close();
  }
};
using ConnPtr = std::unique_ptr<Conn, ConnCloser>;

// "ip:port" of the peer, for logs and X-Forwarded-For (ip only).
std::string peerIp(Conn* c);
// Local port of an accepted connection (X-Forwarded-Port).
int localPort(Conn* c);

}  // namespace corral::proxy
