#include "base/share_cpu.h"

#include <time.h>

namespace corral {

namespace {

// Monotonic time (vDSO, a few ns; the thread's CPU clock is a system call
// per event). A thread that slept since it last yielded yields at its next
// call: a no-op when the core is free, the worker first when it is not.
int64_t monotonicUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

thread_local int64_t tLastShareUs = -1;

}  // namespace

bool shareCpu() {
  int64_t now = monotonicUs();
  if (tLastShareUs < 0) tLastShareUs = now;
  if (now - tLastShareUs < kShareCpuEveryUs) return false;
  timespec pause{0, kShareCpuPauseUs * 1000};
  nanosleep(&pause, nullptr);  // an interrupted sleep is still a pause
  // From when this thread has the core again: time spent off it is not work
  // done.
  tLastShareUs = monotonicUs();
  return true;
}

}  // namespace corral
