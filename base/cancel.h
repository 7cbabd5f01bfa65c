// The owner's side of a pending callback (see the lifetime rule in
// base/loop.h). An asynchronous operation that calls back later returns a
// CancelHandle; the object whose `this` the callback uses keeps it as a
// member. Destroying it, reset() or assigning over it cancels: the callback
// never runs afterwards. Cancelling after the callback ran does nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

namespace corral {

class CancelHandle {
 public:
  CancelHandle() = default;
  // cancel runs once, at reset() or destruction, on the loop thread.
  explicit CancelHandle(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  CancelHandle(CancelHandle&& other) noexcept : cancel_(std::exchange(other.cancel_, nullptr)) {}
  CancelHandle& operator=(CancelHandle&& other) noexcept {
    if (this != &other) {
      reset();
      cancel_ = std::exchange(other.cancel_, nullptr);
    }
    return *this;
  }
  CancelHandle(const CancelHandle&) = delete;
  CancelHandle& operator=(const CancelHandle&) = delete;
  ~CancelHandle() { reset(); }

  void reset() {
    if (auto cancel = std::exchange(cancel_, nullptr)) cancel();
  }
  // Holds an operation (pending or finished) that reset() would cancel.
  explicit operator bool() const { return cancel_ != nullptr; }

 private:
  std::function<void()> cancel_;
};

// Several pending operations of one owner (its fetches, say). Each callback
// removes its own entry with done(key); destroying the group cancels the rest.
class CancelGroup {
 public:
  // The key for the next add(), for the callback to pass to done().
  uint64_t nextKey() { return next_++; }
  void add(uint64_t key, CancelHandle handle) { handles_.emplace(key, std::move(handle)); }
  // The operation finished (safe from inside its own callback).
  void done(uint64_t key) { handles_.erase(key); }
  // Cancels everything pending.
  void reset() { std::map<uint64_t, CancelHandle>().swap(handles_); }
  size_t size() const { return handles_.size(); }

 private:
  uint64_t next_ = 1;
  std::map<uint64_t, CancelHandle> handles_;
};

}  // namespace corral
