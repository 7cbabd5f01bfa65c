// DNS over UDP on one loop: a uv_udp_t opened on a socket we made (so
// SO_REUSEPORT can spread queries over one socket per worker).
#pragma once

#include <uv.h>

#include "base/result.h"
#include "dns/worker_context.h"

namespace corral::dns {

class UdpServer {
 public:
  explicit UdpServer(WorkerContext& ctx) : ctx_(ctx) {}
  UdpServer(const UdpServer&) = delete;
  UdpServer& operator=(const UdpServer&) = delete;

  // Takes ownership of `fd` (a bound UDP socket). Call before the loop runs
  // or on the loop thread.
  Status start(uv_loop_t* loop, int fd);
  // Closes the handle; the loop must run for the close to finish.
  void close();

 private:
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRecv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                     unsigned flags);
  void handle(std::span<const uint8_t> query, const sockaddr* addr);
  void forward(std::span<const uint8_t> query, const sockaddr* addr);
  void send(std::span<const uint8_t> response, const sockaddr* addr);

  WorkerContext& ctx_;
  uv_udp_t* handle_ = nullptr;  // freed in its close callback
  std::array<uint8_t, kMaxMessageSize> recv_{};
};

}  // namespace corral::dns
