#include "base/loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "base/log.h"
#include "base/share_cpu.h"

namespace corral {

namespace {
std::atomic<uint64_t> gLeakedHandles{0};
}  // namespace

uint64_t leakedLoopHandles() { return gLeakedHandles.load(); }

void allocReadBuffer(uv_handle_t*, size_t, uv_buf_t* buf) {
  constexpr size_t kReadBytes = 65536;  // libuv's suggestion
  thread_local std::unique_ptr<char[]> tBuffer(new char[kReadBytes]);
  buf->base = tBuffer.get();
  buf->len = kReadBytes;
}

Loop::Loop() {
  loop_ = new uv_loop_t;
  uv_loop_init(loop_);
  // Cross-thread wake-ups: an eventfd watched by a poll handle, not a
  // uv_async_t. libuv 1.44 (Debian 12) makes the loop thread spin until a
  // sender finishes uv_async_send; a sender preempted mid-send on the same
  // core (the proxy's control thread posting a snapshot to its worker) kept
  // the worker spinning for a whole time slice: 4 ms stalls per snapshot,
  // tens of ms in a burst. libuv 1.45 removed that spin (libuv PR #3879).
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) {
    log::error("eventfd: {}; cannot run an event loop", std::strerror(errno));
    std::abort();
  }
  wake_ = new uv_poll_t;
  uv_poll_init(loop_, wake_, wakeFd_);
  wake_->data = this;
  uv_poll_start(wake_, UV_READABLE,
                [](uv_poll_t* p, int, int) { static_cast<Loop*>(p->data)->drainPosted(); });
  // The wake-up handle must not keep run() alive on its own.
  uv_unref(reinterpret_cast<uv_handle_t*>(wake_));
  deferIdle_ = new uv_idle_t;
  uv_idle_init(loop_, deferIdle_);
  deferIdle_->data = this;
  // A control thread stepped down to SCHED_IDLE for a burst's bulk work
  // (share_cpu.h) comes back before the loop waits: the next event it reads,
  // a single change, is handled at its normal priority.
  endBulk_ = new uv_prepare_t;
  uv_prepare_init(loop_, endBulk_);
  endBulk_->data = this;  // the loop's own handle (a worker's handle count skips it)
  uv_prepare_start(endBulk_, [](uv_prepare_t*) { endBulkWork(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(endBulk_));
}

Loop::~Loop() {
  // Deferred deletions first: they close the handles of what they delete.
  for (int round = 0; round < 100 && !deferred_.empty(); ++round) runDeferred();
  closeAndDelete(wake_);  // stops watching the eventfd: it can be closed now
  ::close(wakeFd_);
  closeAndDelete(deferIdle_);
  closeAndDelete(endBulk_);
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
  bool wasEmpty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wasEmpty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // One wake-up per batch: a non-empty queue has one on its way already (the
  // loop reads the eventfd before it takes the queue, so none is lost).
  if (wasEmpty) {
    uint64_t one = 1;
    ssize_t n;
    do {
      n = ::write(wakeFd_, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
  }
}

void Loop::drainPosted() {
  uint64_t count;
  while (::read(wakeFd_, &count, sizeof(count)) < 0 && errno == EINTR) {
  }
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
