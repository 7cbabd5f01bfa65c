// DNS over TCP on one loop (RFC 7766): 2-octet length framing, pipelined
// queries answered as they come (forwarded ones when upstream answers), an
// idle timeout, a connection limit. Garbage closes the connection. The
// listening socket belongs to the worker's reload::ListenerSet, which calls
// accept() when a connection waits.
#pragma once

#include <uv.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "dns/worker_context.h"

namespace corral::dns {

struct TcpLimits {
  size_t maxConnections = 1024;  // per loop; more are accepted and closed at once
  uint32_t idleTimeoutMs = 10000;
  size_t maxPendingWrites = 256;  // per connection: reading pauses beyond this
};

class TcpServer {
 public:
  TcpServer(uv_loop_t* loop, WorkerContext& ctx, TcpLimits limits)
      : ctx_(ctx), limits_(limits), loop_(loop) {}
  ~TcpServer() { close(); }
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // A connection waits on `listener`: accept it (or refuse it over the limit).
  void accept(uv_stream_t* listener);
  // Closes every connection; the loop must run for the closes to finish.
  void close();
  size_t connections() const { return connections_.size(); }

 private:
  struct Connection;
  struct WriteRequest;
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
  uv_loop_t* loop_;
  uint64_t nextId_ = 1;
  std::unordered_map<uint64_t, Connection*> connections_;
};

}  // namespace corral::dns
