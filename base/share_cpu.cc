#include "base/share_cpu.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

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

// struct sched_attr of sched_setattr(2), its first version (48 bytes; the
// kernel's header clashes with glibc's <sched.h>).
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
};

}  // namespace

bool shareCpu() {
  int64_t now = monotonicUs();
  if (tLastShareUs < 0) tLastShareUs = now;
  if (now - tLastShareUs < kShareCpuEveryUs) return false;
  sched_yield();
  // From when this thread has the core again: time spent waiting in the
  // yield is not work done.
  tLastShareUs = monotonicUs();
  return true;
}

bool requestShortSlices() {
  // Only for a thread of the normal policy (a real-time or idle one is left
  // alone), and with its nice value kept: only the slice (sched_runtime)
  // changes. glibc 2.36 has no wrapper for sched_setattr(2).
  if (sched_getscheduler(0) != SCHED_OTHER) return false;
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  if (errno != 0) return false;
  SchedAttr attr{};
  attr.size = sizeof(attr);
  attr.sched_policy = SCHED_OTHER;
  attr.sched_nice = nice;
  attr.sched_runtime = static_cast<uint64_t>(kServingSliceUs) * 1000;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return false;
  SchedAttr now{};
  if (syscall(SYS_sched_getattr, 0, &now, sizeof(now), 0) != 0) return false;
  return now.sched_runtime == attr.sched_runtime;
}

}  // namespace corral
