#include "base/loop.h"

#include <cstdlib>

#include "base/log.h"

namespace corral {

namespace {
std::atomic<uint64_t> gLeakedHandles{0};
}  // namespace

uint64_t leakedLoopHandles() { return gLeakedHandles.load(); }

Loop::Loop() {
  loop_ = new uv_loop_t;
  uv_loop_init(loop_);
  async_ = new uv_async_t;
  uv_async_init(loop_, async_, [](uv_async_t* a) { static_cast<Loop*>(a->data)->drainPosted(); });
  async_->data = this;
  // The async handle must not keep run() alive on its own.
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));
  deferIdle_ = new uv_idle_t;
  uv_idle_init(loop_, deferIdle_);
  deferIdle_->data = this;
}

Loop::~Loop() {
  // Deferred deletions first: they close the handles of what they delete.
  for (int round = 0; round < 100 && !deferred_.empty(); ++round) runDeferred();
  closeAndDelete(async_);
  closeAndDelete(deferIdle_);
  struct Walk {
    uint64_t open = 0;
    uint64_t closing = 0;
  } walk;
  uv_walk(
      loop_,
      [](uv_handle_t* h, void* arg) {
        auto* w = static_cast<Walk*>(arg);
        if (uv_is_closing(h)) {
          ++w->closing;
          return;
        }
        ++w->open;
        log::error(
            "BUG: a libuv {} handle is still open when its loop is destroyed; its owner "
            "must close it first (lifetime rule, base/loop.h)",
            uv_handle_type_name(uv_handle_get_type(h)));
      },
      &walk);
  if (walk.open > 0) {
    gLeakedHandles += walk.open;
    // Running the loop could call into the destroyed owners of those handles,
    // and freeing it would leave them pointing at freed memory: leave it.
    log::error("BUG: {} libuv handle(s) leaked by the loop's users", walk.open);
    return;
  }
  // Only closing handles remain: one turn runs their close callbacks.
  uv_run(loop_, UV_RUN_DEFAULT);
  if (uv_loop_close(loop_) != 0) {
    log::error("BUG: event loop still busy after its handles closed");
    ++gLeakedHandles;
    return;
  }
  delete loop_;
}

void Loop::defer(std::function<void()> fn) {
  deferred_.push_back(std::move(fn));
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(deferIdle_))) {
    uv_idle_start(deferIdle_, [](uv_idle_t* h) { static_cast<Loop*>(h->data)->runDeferred(); });
  }
}

void Loop::runDeferred() {
  std::vector<std::function<void()>> batch;
  batch.swap(deferred_);
  // Deletions may defer more: those run at the following turn.
  if (deferred_.empty()) uv_idle_stop(deferIdle_);
  for (auto& fn : batch) fn();
  if (!deferred_.empty()) {
    uv_idle_start(deferIdle_, [](uv_idle_t* h) { static_cast<Loop*>(h->data)->runDeferred(); });
  }
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
