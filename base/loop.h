// RAII over libuv: a loop, timers, cross-thread posting and signal watching.
// Handles are heap-allocated and freed only in their close callback, so a C++
// owner may be destroyed at any time (even inside its own callback).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace corral {

class Loop {
 public:
  Loop();
  ~Loop();  // closes every remaining handle and the loop itself
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

 private:
  void drainPosted();
  uv_loop_t* loop_;
  uv_async_t* async_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
};

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

// uv_alloc_cb for stream reads: a heap buffer the read callback delete[]s.
inline void allocReadBuffer(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = new char[suggested];
  buf->len = suggested;
}

// Closes a handle and frees it with delete once libuv is done with it.
template <typename H>
void closeAndDelete(H* handle) {
  if (handle == nullptr) return;
  auto* h = reinterpret_cast<uv_handle_t*>(handle);
  if (uv_is_closing(h)) return;
  uv_close(h, [](uv_handle_t* x) { delete reinterpret_cast<H*>(x); });
}

}  // namespace corral
