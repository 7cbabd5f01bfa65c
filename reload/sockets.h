// Listening sockets made by hand on the control thread, before any worker
// runs, so that a bad address or a port in use is an error value returned to
// the caller instead of a failure inside a thread. SO_REUSEPORT is set here
// (libuv 1.44 has no UV_TCP_REUSEPORT): each worker gets its own socket on
// the same address and the kernel spreads packets and connections over them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace corral::reload {

enum class Transport { kUdp, kTcp };

struct Endpoint {
  std::string host;   // IPv4 or IPv6 literal
  uint16_t port = 0;  // 0: any port free for every transport on that host
  Transport transport = Transport::kTcp;
  // UDP: receive and send buffer size asked for (0: the kernel's default).
  int bufferBytes = 0;
  // "udp:127.0.0.1:53", "tcp:[::1]:8080": one listener per key on each worker.
  std::string key() const;
  // "UDP 127.0.0.1:53": for error messages and logs.
  std::string describe() const;
};

// A file descriptor closed when the owner goes away.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();

 private:
  int fd_ = -1;
};

// A bound, non-blocking socket (TCP: already listening, so that a refused
// listen() is reported here too). reusePort: SO_REUSEPORT, one socket per worker.
Result<UniqueFd> bindSocket(const Endpoint& endpoint, bool reusePort);

// A port on `host` that is free for every transport in `transports` at once
// (probed without SO_REUSEPORT, so that it is never shared with another process).
Result<uint16_t> pickFreePort(const std::string& host, const std::vector<Transport>& transports);

}  // namespace corral::reload
