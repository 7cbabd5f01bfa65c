// DNS over UDP on one loop: a uv_udp_t opened on a socket we made (so
// SO_REUSEPORT can spread queries over one socket per worker).
#pragma once

#include <uv.h>

#include <memory>

#include "base/result.h"
#include "dns/worker_context.h"

namespace corral::dns {

class UdpServer {
 public:
  explicit UdpServer(WorkerContext& ctx);
  ~UdpServer();
  UdpServer(const UdpServer&) = delete;
  UdpServer& operator=(const UdpServer&) = delete;

  // Takes ownership of `fd` (a bound UDP socket). Call before the loop runs
  // or on the loop thread.
  Status start(uv_loop_t* loop, int fd);
  // Closes the handle; the loop must run for the close to finish.
  void close();

 private:
  // Queries are read and answers written in batches (recvmmsg/sendmmsg): one
  // pair of system calls for up to kBatch queries, as NSD does.
  static constexpr size_t kBatch = 32;
  static constexpr size_t kSlotSize = 4096;  // larger answers go out on their own
  struct Batch;

  void onReadable();
  // Answers one query; returns the response size placed in `slot` (0: none
  // to batch, e.g. dropped, forwarded or sent on its own).
  size_t handle(std::span<const uint8_t> query, const sockaddr* addr, uint8_t* slot);
  void forward(std::span<const uint8_t> query, const sockaddr* addr);
  void send(std::span<const uint8_t> response, const sockaddr* addr);

  WorkerContext& ctx_;
  uv_poll_t* poll_ = nullptr;  // freed in its close callback
  int fd_ = -1;
  std::unique_ptr<Batch> batch_;
};

}  // namespace corral::dns
