#include "base/share_cpu.h"

#include <sched.h>
#include <time.h>
#include <uv.h>

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include "base/log.h"

namespace corral {

namespace {

// Monotonic time (vDSO, a few ns; the thread's CPU clock is a system call
// per event).
int64_t monotonicUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

bool setPolicy(int policy) {
  sched_param param{};
  return sched_setscheduler(0, policy, &param) == 0;  // 0: this thread only
}

// Whether a thread may step down and come back: tried in a thread of its
// own, which is thrown away whatever happens to its policy.
CpuSharing probe() {
  if (const char* forced = std::getenv("CORRAL_CPU_SHARING");
      forced != nullptr && std::string_view(forced) == "pause") {
    return CpuSharing::kPause;
  }
  bool back = false;
  std::thread t([&back] {
    if (sched_getscheduler(0) != SCHED_OTHER || !setPolicy(SCHED_IDLE)) return;
    back = setPolicy(SCHED_OTHER);
  });
  t.join();
  if (!back) return CpuSharing::kPause;
  // A thread starts with its creator's policy, and libuv starts its
  // threadpool (getaddrinfo) at its first use, which may come from a
  // stepped-down thread: started now, while this one is at its normal policy.
  uv_loop_t loop;
  uv_work_t work;
  if (uv_loop_init(&loop) == 0) {
    uv_queue_work(
        &loop, &work, [](uv_work_t*) {}, [](uv_work_t*, int) {});
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  return CpuSharing::kStepDown;
}

thread_local int64_t tWorkSinceUs = -1;      // first shareCpu() of this turn, or after a pause
thread_local int64_t tSteppedDownAtUs = -1;  // -1: at the normal policy
thread_local int tOwnPolicy = -1;            // the thread's policy, read once
thread_local bool tForcedPause = false;
thread_local int64_t tBulkEndedUs = -1;       // when this thread last came back from stepping down
thread_local bool tHeld = false;              // holdDown() until holdUp()
thread_local int64_t tHeldUntilUs = 0;        // holdUp() at the latest then
thread_local int64_t tNoStepDownUntilUs = 0;  // after a spent budget: pauses only until then
thread_local int64_t tYieldedAtUs = 0;        // the last sched_yield() while down
thread_local uint64_t tYields = 0;

bool mayStepDown(int64_t now) {
  if (tForcedPause || now < tNoStepDownUntilUs || cpuSharing() != CpuSharing::kStepDown) {
    return false;
  }
  if (tOwnPolicy < 0) tOwnPolicy = sched_getscheduler(0);
  return tOwnPolicy == SCHED_OTHER;
}

void stepUp() {
  if (tSteppedDownAtUs < 0) return;
  if (!tHeld) setPolicy(SCHED_OTHER);
  tSteppedDownAtUs = -1;
  tBulkEndedUs = monotonicUs();
}

// Down, the thread still keeps the core until the kernel next picks: a
// worker it preempted is runnable, not woken, so nothing preempts the thread
// back until the next tick (4 ms at HZ=250). A yield is that pick, and under
// EEVDF a SCHED_IDLE thread's virtual time runs ~340x faster than a normal
// one's, so the runnable worker is the pick within microseconds. Alone on
// the core, a yield returns at once (~0.3 us).
void yieldWhileDown(int64_t now) {
  if (now - tYieldedAtUs < kIdleYieldEveryUs) return;
  sched_yield();
  ++tYields;
  tYieldedAtUs = monotonicUs();
}

}  // namespace

CpuSharing cpuSharing() {
  static const CpuSharing sharing = probe();
  return sharing;
}

namespace {

// A start held down past its limit: the running generation leaves it no
// gaps, so it loads at a fair share.
void endOverdueHold(int64_t now) {
  if (!tHeld || now < tHeldUntilUs) return;
  holdUp();
  log::info("start still not serving after {} ms stepped down: back at the normal policy",
            kHoldDownMaxMs);
}

}  // namespace

bool shareCpu() {
  int64_t now = monotonicUs();
  endOverdueHold(now);
  if (tHeld) {  // already down for the whole start
    yieldWhileDown(now);
    return false;
  }
  if (tWorkSinceUs < 0) {
    tWorkSinceUs = now;
    // A turn that begins soon after bulk work ended is more of the same
    // burst (its next read, its snapshot): down at once, not after a while.
    if (tBulkEndedUs >= 0 && now - tBulkEndedUs < kBulkFollowsUs && mayStepDown(now) &&
        setPolicy(SCHED_IDLE)) {
      tSteppedDownAtUs = now;
      return true;
    }
    return false;
  }
  if (tSteppedDownAtUs >= 0) {
    if (now - tSteppedDownAtUs < kBulkIdleBudgetUs) {
      yieldWhileDown(now);
      return false;
    }
    // Stepped down for the whole budget: the workers are saturated. Take a
    // fair share again, with pauses, until the loop waits.
    stepUp();
    // Not back down in this turn nor the next ones: at most one budget
    // stepped down per kBulkStarvedPauseUs while the workers leave no gaps.
    tBulkEndedUs = -1;
    tNoStepDownUntilUs = now + kBulkStarvedPauseUs;
    tWorkSinceUs = now;
    return false;
  }
  if (mayStepDown(now)) {
    if (now - tWorkSinceUs < kBulkAfterUs) return false;
    if (setPolicy(SCHED_IDLE)) {
      tSteppedDownAtUs = now;
      return true;
    }
    tNoStepDownUntilUs = now + kBulkStarvedPauseUs;  // refused (a sandbox's filter?): pause
  }
  if (now - tWorkSinceUs < kShareCpuEveryUs) return false;
  timespec pause{0, kShareCpuPauseUs * 1000};
  nanosleep(&pause, nullptr);  // an interrupted sleep is still a pause
  // From when this thread has the core again: time spent off it is not work
  // done.
  tWorkSinceUs = monotonicUs();
  return true;
}

void endBulkWork() {
  if (tHeld) endOverdueHold(monotonicUs());
  stepUp();
  tWorkSinceUs = -1;
}

bool steppedDown() { return tSteppedDownAtUs >= 0; }

uint64_t yieldsWhileDown() { return tYields; }

bool holdDown() {
  if (tHeld) return true;
  if (cpuSharing() != CpuSharing::kStepDown || sched_getscheduler(0) != SCHED_OTHER) return false;
  tHeld = setPolicy(SCHED_IDLE);
  tHeldUntilUs = monotonicUs() + kHoldDownMaxMs * 1000;
  return tHeld;
}

void holdUp() {
  if (!tHeld) return;
  tHeld = false;
  setPolicy(SCHED_OTHER);
  tSteppedDownAtUs = -1;
}

bool heldDown() { return tHeld; }

void startAtNormalPolicy() {
  if (cpuSharing() == CpuSharing::kStepDown && sched_getscheduler(0) == SCHED_IDLE) {
    setPolicy(SCHED_OTHER);
  }
}

void shareCpuOnThisThreadBy(CpuSharing sharing) { tForcedPause = sharing == CpuSharing::kPause; }

}  // namespace corral
