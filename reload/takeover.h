// Hitless restart: a new process (a new binary or a changed configuration)
// started with the same --takeover PATH as the running one receives every
// listening socket over the Unix socket at PATH, serves them, and then the
// old process stops accepting and drains. Messages: reload/takeover_protocol.h.
//
// New process (N), before its service starts: begin() connects to PATH. When
// nobody answers there, N is the first generation. Otherwise N sends Hello,
// receives every socket (worker TCP/UDP sockets, control listeners such as
// the admin port, and PATH's listener itself) into ProcessSockets, where the
// service claims them as it binds, and holds every listener (nothing is
// accepted before N can route). serve() then waits until ready() (routes or
// the zone synced, service ports open), starts the listeners, closes the
// inherited sockets the configuration no longer has, sends Ready and serves
// PATH for the next generation.
//
// Old process (O): on Ready it stops accepting (TCP listeners close, the
// socket lives on in N, so connections queued on it are N's to accept; UDP
// sockets stop being read) and each service drains. When no connection is
// left, or after drainTimeoutMs, onDrained runs (the caller stops and exits 0).
//
// At most two generations: a third process that arrives while O's own
// predecessor still drains is told Wait, and O tells that predecessor Finish:
// it closes what is still open (the long-lived connections that kept it) and
// exits at once; then the third process gets the sockets. So upgrades asked
// for faster than drains end never pile processes up (HAProxy's old workers
// did under marathon-lb); the price is that a drain lasts at most until the
// next-but-one upgrade instead of its full --drain-timeout. A process that
// arrives while another is still taking over (it holds the sockets and loads
// its routes) is refused at once (Refused kBusy) and exits 1: it would be a
// third; it may be started again once the other serves.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/loop.h"
#include "base/result.h"
#include "reload/fd_channel.h"

namespace corral::reload {

struct TakeoverOptions {
  std::string path;                 // the Unix socket both generations name
  uint64_t drainTimeoutMs = 30000;  // old: then the connections left are closed
  uint64_t readyTimeoutMs = 60000;  // new: not ready by then: give up, the old one keeps serving
  uint64_t waitTimeoutMs = 600000;  // new: how long a draining generation may keep us waiting
};

class Takeover {
 public:
  // Before the service binds anything (see the file comment).
  static Result<std::unique_ptr<Takeover>> begin(Loop& loop, TakeoverOptions options);
  ~Takeover();
  Takeover(const Takeover&) = delete;
  Takeover& operator=(const Takeover&) = delete;

  // After the service started. onFailed: not ready in time (this process
  // should exit non-zero; the old generation was not disturbed).
  void serve(std::function<bool()> ready, std::function<void()> onDrained,
             std::function<void(const std::string&)> onFailed);
  // True when this process took over from a running one.
  bool inherited() const { return predecessorPid_ != 0; }
  // True once the next generation took over and this process drains.
  bool draining() const { return draining_; }
  // Stops every handle (process shutdown by signal). Idempotent.
  void close();

 private:
  struct Peer;  // a connection on PATH
  Takeover(Loop& loop, TakeoverOptions options);
  Status connectToRunning();
  void waitUntilReady();
  void takeOver();
  void listenForSuccessor();
  void onSuccessorConnection();
  void onPeerReadable(Peer* peer);
  void handle(Peer* peer, takeover::Received received);
  void sendSockets(Peer* peer);
  void startDrain(Peer* peer);
  void checkDrain();
  // A Finish from our successor: a third process waits for us to be gone.
  void finishNow(int waitingPid);
  void dropSuccessor();
  void onPredecessorGone();

  Loop& loop_;
  TakeoverOptions options_;
  std::function<bool()> ready_;
  std::function<void()> onDrained_;
  std::function<void(const std::string&)> onFailed_;
  UniqueFd listener_;  // PATH
  uv_poll_t* listenerPoll_ = nullptr;
  std::unique_ptr<Peer> predecessor_;  // the generation we took over from, until it exits
  int predecessorPid_ = 0;
  std::unique_ptr<Peer> successor_;  // a process taking over from us
  Timer timer_;                      // ready polling, then drain polling
  uint64_t deadline_ = 0;            // of what timer_ waits for (loop ms)
  bool draining_ = false;
  int finishFor_ = 0;  // pid of the process our early end makes room for (0: none)
  bool done_ = false;
  bool closed_ = false;
};

}  // namespace corral::reload
