// Idle keep-alive connections to backends, per worker (one loop, no locks):
// after a complete exchange a session gives its upstream connection back;
// the next request to the same backend takes it instead of connecting. Each
// idle connection is watched: any byte or EOF from the backend while idle
// (it closed, or sent garbage) drops it at once, and take() peeks the socket
// once more so a close that has not reached the loop yet is not reused.
// Bounded per backend (the oldest goes first) and by idle time.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <unordered_set>

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
  // Closes the idle connections of a backend that went away; one given back
  // for it during the next one or two sweeps (a session's parked connection)
  // is closed too.
  void forget(uint64_t backendId);

  // The worker drains (the next generation serves): from now on a connection
  // given back is closed, and the idle ones are closed kReleasePerTick every
  // kReleaseEveryMs instead of all at once when the worker stops. At exit,
  // closing ~1,000 pooled connections at once kept the worker in close() for
  // 25 ms, on a core it may share with the next generation's worker.
  void release();
  static constexpr size_t kReleasePerTick = 16;
  static constexpr uint64_t kReleaseEveryMs = 10;

  size_t idleCount(uint64_t backendId) const;
  size_t idleTotal() const { return total_; }
  // Connections handed out by take() (reuse), for stats and tests.
  uint64_t reused() const { return reused_; }

 private:
  struct Idle {
    ConnPtr conn;
    uint64_t sinceMs;
  };
  void drop(Conn* conn);  // the backend closed or misbehaved while idle
  void sweep();
  void startSweeper();
  void releaseSome();

  Loop& loop_;
  PoolOptions options_;
  std::unordered_map<uint64_t, std::deque<Idle>> idle_;
  // Backends forgotten since the last sweep, and in the round before it.
  std::unordered_set<uint64_t> forgotten_;
  std::unordered_set<uint64_t> forgottenBefore_;
  size_t total_ = 0;
  uint64_t reused_ = 0;
  Timer sweeper_;
  Timer releaser_;
};

}  // namespace corral::proxy
