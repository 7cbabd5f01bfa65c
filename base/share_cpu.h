// Bulk work on a control thread gives way to the threads serving traffic.
//
// A burst of scheduler events keeps the control thread busy for tens of
// milliseconds (1,000 events parsed, a snapshot of 500 changed apps built).
// Where it shares a core with a worker loop, the kernel lets it run a whole
// time slice (several ms) before a woken worker gets the core, and every
// request in flight waits that long. shareCpu() is called between the units
// of such work (an event, an app): after kShareCpuEveryUs of this thread's
// running time it steps off the core for kShareCpuPauseUs.
//
// A sleep, not sched_yield(): a yield hands the core only to a thread that
// is runnable at that instant (and, under EEVDF, eligible); a worker woken a
// moment later still waited for the rest of the control thread's slice. perf
// traces of 500-change bursts at 10k routes showed control-thread runs of
// 1-3.4 ms ending in preemption, each with the probe's slowest requests
// inside. With the sleep a worker waits at most one interval. A lower
// priority for the whole thread was measured instead and rejected: it made
// single changes wait behind the workers' busy spells.
#pragma once

#include <cstdint>

namespace corral {

constexpr int64_t kShareCpuEveryUs = 500;
constexpr int64_t kShareCpuPauseUs = 20;

// Sleeps kShareCpuPauseUs when kShareCpuEveryUs have passed since this
// thread last did (or since its first call). Returns whether it slept.
bool shareCpu();

}  // namespace corral
