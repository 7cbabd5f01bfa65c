// The listening sockets of ONE worker loop, keyed by address ("tcp:host:port"),
// so that a listener can be opened or closed on its own while the others keep
// serving. A TCP listener is a uv_tcp_t over a socket made by reload/sockets.h;
// a UDP one is a uv_poll_t on the socket, so that the owner can read batches
// with recvmmsg (DNS does). Loop thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "reload/sockets.h"

namespace corral::reload {

class Listener {
 public:
  const Endpoint& endpoint() const { return endpoint_; }
  // The socket: UDP owners read and write datagrams on it.
  int fd() const { return fd_; }
  // TCP: the listening stream to uv_accept() from; null for UDP.
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(tcp_); }

 private:
  friend class ListenerSet;
  Endpoint endpoint_;
  int fd_ = -1;
  uv_tcp_t* tcp_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  std::function<void(Listener&)> onReady_;
  bool started_ = false;  // accepting (TCP) or polled (UDP)
};

class ListenerSet {
 public:
  // TCP: a connection waits to be accepted from listener.stream().
  // UDP: datagrams wait on listener.fd(). A callback must not close its own listener.
  using OnReady = std::function<void(Listener&)>;

  explicit ListenerSet(uv_loop_t* loop) : loop_(loop) {}
  ~ListenerSet() { closeAll(); }
  ListenerSet(const ListenerSet&) = delete;
  ListenerSet& operator=(const ListenerSet&) = delete;

  // Takes ownership of `fd` (from bindSocket()). Fails if the key is open
  // already. held: the listener is made but takes nothing until resumeAll().
  Status open(const Endpoint& endpoint, UniqueFd fd, OnReady onReady, bool held = false);
  // Starts every held listener.
  void resumeAll();
  // A takeover: stop taking new work without disturbing the socket, which the
  // next generation serves. TCP listeners close (this process's copy only:
  // connections queued on the socket are the next generation's to accept);
  // UDP sockets stop being read but stay open, so that answers still in
  // flight (forwarded queries) can be sent from them.
  void stopAccepting();
  // Closes one listener; false when no listener has that key.
  bool close(const std::string& key);
  void closeAll();

  bool has(const std::string& key) const { return listeners_.count(key) != 0; }
  size_t size() const { return listeners_.size(); }
  std::vector<std::string> keys() const;

 private:
  static void closeHandles(Listener& l);
  static int start(Listener& l);
  uv_loop_t* loop_;
  std::map<std::string, std::unique_ptr<Listener>> listeners_;
};

}  // namespace corral::reload
