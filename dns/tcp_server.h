// DNS over TCP on one loop (RFC 7766): 2-octet length framing, pipelined
// queries answered as they come (forwarded ones when upstream answers), an
// idle timeout, a connection limit. Garbage closes the connection.
#pragma once

#include <uv.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "dns/worker_context.h"

namespace corral::dns {

struct TcpLimits {
  size_t maxConnections = 1024;  // per loop; more are accepted and closed at once
  uint32_t idleTimeoutMs = 10000;
  size_t maxPendingWrites = 256;  // per connection: reading pauses beyond this
};

class TcpServer {
 public:
  TcpServer(WorkerContext& ctx, TcpLimits limits) : ctx_(ctx), limits_(limits) {}
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Takes ownership of `fd` (a bound TCP socket, not yet listening).
  Status start(uv_loop_t* loop, int fd);
  // Closes the listener and every connection.
  void close();
  size_t connections() const { return connections_.size(); }

 private:
  struct Connection;
  struct WriteRequest;
  static void onConnection(uv_stream_t* server, int status);
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onIdle(uv_timer_t* timer);
  static void onWritten(uv_write_t* req, int status);
  static void onClosed(uv_handle_t* handle);

  void process(Connection* c);
  void handleQuery(Connection* c, std::span<const uint8_t> query);
  void forward(Connection* c, std::span<const uint8_t> query);
  void write(Connection* c, std::span<const uint8_t> response);
  void closeConnection(Connection* c);

  WorkerContext& ctx_;
  TcpLimits limits_;
  uv_loop_t* loop_ = nullptr;
  uv_tcp_t* listener_ = nullptr;
  uint64_t nextId_ = 1;
  std::unordered_map<uint64_t, Connection*> connections_;
};

}  // namespace corral::dns
