// RAII over libuv: a loop, timers, cross-thread posting and signal watching.
//
// THE LIFETIME RULE (every callback in corral follows it):
// 1. Every libuv handle is owned by exactly one C++ object, which closes it in
//    its destructor; handle memory is freed only in the close callback
//    (closeAndDelete below).
// 2. A callback may capture raw `this` only when `this` owns what delivers the
//    callback (the handle, the Timer) or holds a cancel handle for it:
//    asynchronous operations that call back later (HTTP client fetch and
//    streams, posted work, deferred timers) return a move-only
//    corral::CancelHandle (base/cancel.h); destroying or reset()-ing it
//    guarantees the callback never runs afterwards. The owner keeps it as a
//    member. No weak self-pointers, no alive tokens, no reference-counted
//    handle bookkeeping, no [&] captures of anything that can outlive the call.
// 3. An object is never destroyed inside its own callback:
//    loop.deleteLater(std::move(ptr)) defers the deletion to the next turn.
// 4. ~Loop never closes handles it does not own: a handle still open then is
//    a bug; it is logged by type and counted (leakedLoopHandles()), and tests
//    fail on it. So every object closes all its handles before its loop is
//    destroyed (worker threads: close everything, run the loop until it has
//    no handles, then destroy it).
// Cross-thread: Loop::post is the only cross-thread entry; the owner of a loop
// joins its thread before destroying anything the posted closures reference.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace corral {

class Loop {
 public:
  Loop();
  // Runs pending deleteLater()s and finishes closing handles; a handle still
  // open is reported (rule 4) and the loop memory is then left alone.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* raw() { return loop_; }
  void run();
  // Runs until pred() holds or timeoutMs passes; returns pred(). For tests and startup.
  bool runUntil(const std::function<bool()>& pred, uint64_t timeoutMs);
  void stop();
  // Thread-safe: runs fn on the loop thread soon. The only cross-thread entry point.
  void post(std::function<void()> fn);
  uint64_t nowMs();
  // Destroys p on the loop thread at the next loop turn (rule 3): for an object
  // that must go away from inside one of its own callbacks.
  template <typename T>
  void deleteLater(std::unique_ptr<T> p) {
    if (p == nullptr) return;
    T* raw = p.release();
    defer([raw] { delete raw; });
  }

 private:
  void drainPosted();
  void defer(std::function<void()> fn);
  void runDeferred();
  uv_loop_t* loop_;
  int wakeFd_ = -1;  // eventfd: post() writes, the loop reads (see Loop())
  uv_poll_t* wake_ = nullptr;
  uv_idle_t* deferIdle_;   // active while deletions wait
  uv_prepare_t* endBulk_;  // before each wait: the turn's bulk work is over (share_cpu.h)
  std::vector<std::function<void()>> deferred_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
};

// Handles found open when their Loop was destroyed, process-wide (rule 4).
// Tests assert it stays 0.
uint64_t leakedLoopHandles();

class Timer {
 public:
  explicit Timer(Loop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // repeatMs == 0: one shot. Restarting replaces the previous callback.
  void start(uint64_t timeoutMs, uint64_t repeatMs, std::function<void()> cb);
  void stop();
  bool active() const;

 private:
  struct State;
  State* state_;
};

// Calls cb on the loop thread when one of the signals arrives. Handlers only set
// state; the callback does the work.
class SignalWatcher {
 public:
  SignalWatcher(Loop& loop, std::vector<int> signals, std::function<void(int)> cb);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  std::vector<uv_signal_t*> handles_;
  std::shared_ptr<std::function<void(int)>> cb_;
};

// uv_alloc_cb for stream reads: one buffer per thread, reused by every read.
// The read callback consumes the bytes before it returns (parsers copy what
// they keep) and frees nothing. A fresh 64 KiB new[] per read cost the proxy's
// control thread ~9% of a burst: a request that large makes glibc consolidate
// its fast bins first (malloc_consolidate), a walk over every small free
// chunk. No loop runs nested inside a read callback, so one buffer serves.
void allocReadBuffer(uv_handle_t*, size_t suggested, uv_buf_t* buf);

// Closes a handle and frees it with delete once libuv is done with it.
template <typename H>
void closeAndDelete(H* handle) {
  if (handle == nullptr) return;
  auto* h = reinterpret_cast<uv_handle_t*>(handle);
  if (uv_is_closing(h)) return;
  uv_close(h, [](uv_handle_t* x) { delete reinterpret_cast<H*>(x); });
}

}  // namespace corral
