// Bulk work on a control thread gives way to the threads serving traffic.
//
// A burst of scheduler events keeps the control thread busy for tens of
// milliseconds (1,000 events parsed, a snapshot of 500 changed apps built).
// Where it shares a core with a worker loop, the kernel lets it run a whole
// time slice (several ms) before a woken worker gets the core, and every
// request in flight waits that long. shareCpu() is called between the units
// of such work (an event, an app): after kShareCpuEveryUs of this thread's
// running time it yields the core, which is a cheap no-op when no other
// thread wants it. A lower priority for the whole thread was measured
// instead and rejected: it made single changes wait behind the workers'
// busy spells (event -> live p99 18-22 ms at 10k routes instead of 9).
#pragma once

#include <cstdint>

namespace corral {

constexpr int64_t kShareCpuEveryUs = 500;

// Yields the CPU when kShareCpuEveryUs have passed since this thread last
// did (or since its first call). Returns whether it yielded.
bool shareCpu();

}  // namespace corral
