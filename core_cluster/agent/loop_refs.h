// Internal: bookkeeping so an owner of libuv handles knows when the last one is closed.
// Handles are heap-allocated, never move, and are freed only in their close callback.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdlib>
#include <functional>
#include <utility>

namespace corral::agent {

class LoopRefs {
 public:
  void add() { ++count_; }
  // The idle callback runs once when the count drops to zero; it may destroy the owner of this
  // object, so nothing touches `this` after it.
  void done() {
    if (--count_ == 0 && onIdle_) {
      auto cb = std::move(onIdle_);
      onIdle_ = nullptr;
      cb();
    }
  }
  size_t count() const { return count_; }
  void setOnIdle(std::function<void()> cb) { onIdle_ = std::move(cb); }

 private:
  size_t count_ = 0;
  std::function<void()> onIdle_;
};

// A zeroed handle of type H on the heap, counted in refs until closeHandle() has finished.
template <typename H>
H* newHandle(LoopRefs& refs) {
  refs.add();
  return static_cast<H*>(std::calloc(1, sizeof(H)));
}

// For a handle from newHandle(), initialised or not yet (then `initialised` = false).
inline void closeHandle(uv_handle_t* handle, LoopRefs& refs, bool initialised = true) {
  if (!initialised) {
    std::free(handle);
    refs.done();
    return;
  }
  handle->data = &refs;
  uv_close(handle, [](uv_handle_t* h) {
    auto* r = static_cast<LoopRefs*>(h->data);
    std::free(h);
    r->done();
  });
}

}  // namespace corral::agent
