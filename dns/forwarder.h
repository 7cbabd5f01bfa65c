// Forwarding of names outside our zone to upstream resolvers with c-ares,
// driven by the worker's libuv loop (uv_poll_t per c-ares socket, one timer
// for its timeouts). Asynchronous: a forwarded query never holds up another.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"

struct ares_channeldata;

namespace corral::dns {

class Forwarder {
 public:
  // The upstream's response (its id is the one of our query), or an empty
  // span on failure (timeout, unreachable, shutdown: `cancelled`).
  using Callback = std::function<void(std::span<const uint8_t> response, bool cancelled)>;

  // `resolvers`: "ip", "ip:port" or "[v6]:port".
  static Result<std::unique_ptr<Forwarder>> create(uv_loop_t* loop,
                                                   const std::vector<std::string>& resolvers,
                                                   uint32_t timeoutMs);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Sends the raw query upstream; `done` runs on the loop thread later.
  void forward(std::span<const uint8_t> query, Callback done);
  // Cancels everything pending (callbacks run with cancelled = true) and
  // closes every handle. The loop must run afterwards for the closes.
  void close();
  size_t pending() const { return pending_; }

 private:
  explicit Forwarder(uv_loop_t* loop) : loop_(loop) {}
  struct Poll;
  static void onSocketState(void* data, int fd, int readable, int writable);
  static void onPoll(uv_poll_t* handle, int status, int events);
  static void onTimer(uv_timer_t* timer);
  static void onResponse(void* arg, int status, int timeouts, unsigned char* abuf, int alen);

  uv_loop_t* loop_;
  ares_channeldata* channel_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  std::unordered_map<int, Poll*> polls_;
  size_t pending_ = 0;
  bool closed_ = false;
};

}  // namespace corral::dns
