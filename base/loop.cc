#include "base/loop.h"

#include <cstdlib>

#include "base/log.h"

namespace corral {

Loop::Loop() {
  loop_ = new uv_loop_t;
  uv_loop_init(loop_);
  async_ = new uv_async_t;
  uv_async_init(loop_, async_, [](uv_async_t* a) { static_cast<Loop*>(a->data)->drainPosted(); });
  async_->data = this;
  // The async handle must not keep run() alive on its own.
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));
}

Loop::~Loop() {
  closeAndDelete(async_);
  // Close whatever is still open so that uv_loop_close succeeds.
  uv_walk(
      loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(loop_, UV_RUN_DEFAULT);
  if (uv_loop_close(loop_) != 0) log::warn("event loop closed with live handles");
  delete loop_;
}

void Loop::run() { uv_run(loop_, UV_RUN_DEFAULT); }

bool Loop::runUntil(const std::function<bool()>& pred, uint64_t timeoutMs) {
  uint64_t deadline = nowMs() + timeoutMs;
  while (!pred()) {
    if (nowMs() >= deadline) return pred();
    // A short timer guarantees run(ONCE) returns even when nothing else happens.
    uv_timer_t t;
    uv_timer_init(loop_, &t);
    uv_timer_start(
        &t, [](uv_timer_t*) {}, 5, 0);
    uv_run(loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
    uv_run(loop_, UV_RUN_NOWAIT);
    uv_update_time(loop_);
  }
  return true;
}

void Loop::stop() { uv_stop(loop_); }

void Loop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  uv_async_send(async_);
}

void Loop::drainPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

uint64_t Loop::nowMs() {
  uv_update_time(loop_);
  return uv_now(loop_);
}

struct Timer::State {
  uv_timer_t handle;
  std::function<void()> cb;
};

Timer::Timer(Loop& loop) : state_(new State) {
  uv_timer_init(loop.raw(), &state_->handle);
  state_->handle.data = state_;
}

Timer::~Timer() {
  uv_timer_stop(&state_->handle);
  state_->cb = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&state_->handle),
           [](uv_handle_t* h) { delete static_cast<State*>(h->data); });
}

void Timer::start(uint64_t timeoutMs, uint64_t repeatMs, std::function<void()> cb) {
  state_->cb = std::move(cb);
  uv_timer_start(
      &state_->handle,
      [](uv_timer_t* t) {
        auto* s = static_cast<State*>(t->data);
        // Copy: the callback may restart or destroy the timer.
        auto cb = s->cb;
        if (cb) cb();
      },
      timeoutMs, repeatMs);
}

void Timer::stop() { uv_timer_stop(&state_->handle); }
bool Timer::active() const {
  return uv_is_active(reinterpret_cast<const uv_handle_t*>(&state_->handle)) != 0;
}

SignalWatcher::SignalWatcher(Loop& loop, std::vector<int> signals, std::function<void(int)> cb)
    : cb_(std::make_shared<std::function<void(int)>>(std::move(cb))) {
  for (int sig : signals) {
    auto* h = new uv_signal_t;
    uv_signal_init(loop.raw(), h);
    h->data = cb_.get();
    uv_signal_start(
        h,
        [](uv_signal_t* s, int signum) {
          (*static_cast<std::function<void(int)>*>(s->data))(signum);
        },
        sig);
    uv_unref(reinterpret_cast<uv_handle_t*>(h));
    handles_.push_back(h);
  }
}

SignalWatcher::~SignalWatcher() {
  for (auto* h : handles_) closeAndDelete(h);
}

}  // namespace corral
