// Idle keep-alive connections to backends, per worker (one loop, no locks):
// after a complete exchange a session gives its upstream connection back;
// the next request to the same backend takes it instead of connecting. Each
// idle connection is watched: any byte or EOF from the backend while idle
// (it closed, or sent garbage) drops it at once, and take() peeks the socket
// once more so a close that has not reached the loop yet is not reused.
// Bounded per backend (the oldest goes first) and by idle time.
//
// Connections the pool lets go of in numbers (idle too long, their backend
// gone, the worker draining) are closed kClosePerTick every kCloseEveryMs, not
// all at once: at 10k routes one idle-timeout sweep closed ~1,300 at once,
// which kept the worker in close() for 20 ms and the backends' host as long
// with the FINs (the reload benchmark's 25-36 ms add/remove stalls).
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/loop.h"
#include "proxy/connection.h"

namespace corral::proxy {

struct PoolOptions {
  size_t maxIdlePerBackend = 32;
  uint64_t idleTimeoutMs = 30 * 1000;
};

class UpstreamPool {
 public:
  UpstreamPool(Loop& loop, PoolOptions options);
  ~UpstreamPool();  // closes every idle connection
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // The most recently used idle connection to the backend that is still
  // clean, or null. The caller becomes its owner.
  ConnPtr take(uint64_t backendId);
  // Takes back a connection after a complete exchange (no unread bytes, no
  // write pending). conn->backendId names the backend.
  void give(ConnPtr conn);
  // Lets the idle connections of a backend that went away go (to be closed);
  // one given back for it during the next one or two sweeps (a session's
  // parked connection) is closed too.
  void forget(uint64_t backendId);

  // The worker drains (the next generation serves): from now on a connection
  // given back is closed, and every idle one is let go (closed a few at a
  // time: at exit, closing ~1,000 at once kept the worker in close() for
  // 25 ms, on a core it may share with the next generation's worker).
  void release();

  // Let-go connections closed per tick (more when many wait: a tick closes
  // kClosePerTick + waiting / kCloseBacklogShare), and the tick.
  static constexpr size_t kClosePerTick = 16;
  static constexpr size_t kCloseBacklogShare = 256;
  static constexpr uint64_t kCloseEveryMs = 5;

  size_t idleCount(uint64_t backendId) const;
  size_t idleTotal() const { return byAge_.size(); }
  // Let go, not yet closed.
  size_t closing() const { return closing_.size(); }
  // Connections handed out by take() (reuse), for stats and tests.
  uint64_t reused() const { return reused_; }

 private:
  struct Idle {
    ConnPtr conn;
    uint64_t sinceMs;
  };
  using AgeList = std::list<Idle>;
  // Unlinks an idle connection from both indexes; returns it.
  ConnPtr unlink(std::vector<AgeList::iterator>& ofBackend, size_t index);
  void letGo(ConnPtr conn);  // to be closed by closeSome()
  void closeSome();
  void drop(Conn* conn);  // the backend closed or misbehaved while idle
  void sweep();
  void startSweeper();

  Loop& loop_;
  PoolOptions options_;
  // Every idle connection, oldest first (loop time only grows), so that the
  // sweep touches only the expired ones, not every backend's list.
  AgeList byAge_;
  // Per backend, oldest first: the same entries.
  std::unordered_map<uint64_t, std::vector<AgeList::iterator>> idle_;
  std::deque<ConnPtr> closing_;
  // Backends forgotten since the last sweep, and in the round before it.
  std::unordered_set<uint64_t> forgotten_;
  std::unordered_set<uint64_t> forgottenBefore_;
  uint64_t reused_ = 0;
  Timer sweeper_;
  Timer closer_;
};

}  // namespace corral::proxy
