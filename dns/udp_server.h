// DNS over UDP on one loop. The socket (one per worker, SO_REUSEPORT) and its
// poll handle belong to the worker's reload::ListenerSet, which calls
// onReadable() when queries wait; this class reads and answers them.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <span>

#include "dns/worker_context.h"

namespace corral::dns {

class UdpServer {
 public:
  explicit UdpServer(WorkerContext& ctx);
  ~UdpServer();
  UdpServer(const UdpServer&) = delete;
  UdpServer& operator=(const UdpServer&) = delete;

  // Queries wait on `fd` (the worker's UDP socket, owned by its listener).
  void onReadable(int fd);
  // Stops answering: late forwarded answers are dropped from now on.
  void close();

 private:
  // Queries are read and answers written in batches (recvmmsg/sendmmsg): one
  // pair of system calls for up to kBatch queries, as NSD does.
  static constexpr size_t kBatch = 32;
  static constexpr size_t kSlotSize = 4096;  // larger answers go out on their own
  struct Batch;

  // Answers one query; returns the response size placed in `slot` (0: none
  // to batch, e.g. dropped, forwarded or sent on its own).
  size_t handle(std::span<const uint8_t> query, const sockaddr* addr, uint8_t* slot);
  void forward(std::span<const uint8_t> query, const sockaddr* addr);
  // Answers on the socket the query came in on.
  void send(int fd, std::span<const uint8_t> response, const sockaddr* addr);
  // Response rate limiting: kSend, or the answer was counted and is to be
  // dropped (kDrop) or replaced by an empty TC one (kSlip).
  RrlAction limit(const sockaddr* addr, uint16_t rcode);

  WorkerContext& ctx_;
  int fd_ = -1;  // the socket being read (its listener owns it)
  bool closed_ = false;
  uint64_t nowMs_ = 0;  // monotonic, read once per batch for the rate limiter
  std::unique_ptr<Batch> batch_;
};

}  // namespace corral::dns
