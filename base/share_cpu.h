// Bulk work on a control thread gives way to the threads serving traffic.
//
// A burst of scheduler events keeps the control thread busy for tens of
// milliseconds (1,000 events parsed, a snapshot of 500 changed apps built).
// Where it shares a core with a worker loop, the kernel lets it run a whole
// time slice (several ms) before a woken worker gets the core, and every
// request in flight waits that long. shareCpu() is called between the units
// of such work (an event, an app) and steps aside in one of two ways, chosen
// once per process (cpuSharing()):
//
//  * Step down (kStepDown): after kBulkAfterUs of work in one loop turn the
//    thread switches itself to SCHED_IDLE, and back to its normal policy when
//    its loop next waits (endBulkWork(), called by Loop before each poll).
//    The kernel preempts a SCHED_IDLE thread at once when a normal thread
//    wakes on its core (fair.c, check_preempt_wakeup_fair), so a worker never
//    waits for the bulk work: the work runs in the gaps between requests.
//    A worker that was preempted (a tick ended its slice while it worked) is
//    not woken, though: it is runnable, and EEVDF may pick the stepped-down
//    thread before it and let it run to the next tick (4 ms at HZ=250; perf
//    sched found such 4 ms waits behind the benchmark's SCHED_IDLE spinner).
//    So a thread that is down yields every kIdleYieldEveryUs in shareCpu():
//    the pick goes to the worker within microseconds.
//    A turn that starts within kBulkFollowsUs of stepped-down work (the
//    burst's next read, its snapshot) steps down at its first call.
//    Measured at 10k routes, bursts of 500 changes under load (docs/
//    BENCHMARKS.md, seventh run): the probe's p99 in the 0.5 s after a burst
//    was 0.7-2.7 ms over steady state with the pauses, 0.1-0.3 ms stepped
//    down (four alternating rounds each). The work is bounded:
//    after kBulkIdleBudgetUs stepped down in one loop turn the thread returns
//    to its policy and pauses instead, and does not step down again for
//    kBulkStarvedPauseUs, so a saturated worker cannot starve route changes.
//    Single changes (under kBulkAfterUs) never step down.
//  * Pause (kPause, the fallback): after kShareCpuEveryUs of work the thread
//    sleeps kShareCpuPauseUs. A sleep, not sched_yield(): a yield hands the
//    core only to a thread runnable (and EEVDF-eligible) at that instant; a
//    worker woken a moment later still waited for the rest of the slice. A
//    worker waits at most one interval.
//
// Stepping down needs the right to come back: an unprivileged thread may not
// leave SCHED_IDLE unless RLIMIT_NICE allows its nice value (sched(7)). Root,
// CAP_SYS_NICE or `LimitNICE=40` (systemd) / `ulimit -e 40` give it; the
// process tries the round trip once in a throwaway thread and pauses
// otherwise. CORRAL_CPU_SHARING=pause in the environment forces the pauses
// (for comparisons). A thread that is not SCHED_OTHER is never stepped down.
//
// Threads without a Loop that call shareCpu() (tests, benchmarks) call
// endBulkWork() themselves when their bulk work ends.
#pragma once

#include <cstdint>

namespace corral {

constexpr int64_t kShareCpuEveryUs = 500;
constexpr int64_t kShareCpuPauseUs = 20;
constexpr int64_t kBulkAfterUs = 100;
constexpr int64_t kBulkIdleBudgetUs = 100000;
constexpr int64_t kBulkFollowsUs = 20000;
constexpr int64_t kBulkStarvedPauseUs = 1000000;
constexpr int64_t kIdleYieldEveryUs = 50;

enum class CpuSharing { kStepDown, kPause };

// How this process shares: probed once (thread-safe).
CpuSharing cpuSharing();

// Steps aside if this thread has worked long enough in this loop turn: steps
// down to SCHED_IDLE (kStepDown) or sleeps (kPause). Returns whether it did.
bool shareCpu();

// The bulk work of this loop turn is over: a stepped-down thread returns to
// its normal policy and the work clock starts again at the next shareCpu().
void endBulkWork();

// Whether this thread is stepped down now.
bool steppedDown();
// How many times this thread yielded while stepped or held down (tests).
uint64_t yieldsWhileDown();

// A new generation that starts beside the one it replaces (reload/takeover.h)
// has no hurry: the old one serves until the new one is ready. Its loading
// (the binary's start, the routes read and built, the workers started) on the
// shared core held the old generation's worker for 10 ms at a time (perf
// sched, 100 routes). holdDown() steps this thread down until holdUp(), or
// for kHoldDownMaxMs at most (checked at shareCpu() and at each loop turn),
// so that a saturated predecessor cannot starve the upgrade.
// Meanwhile shareCpu() only yields (every kIdleYieldEveryUs). No-op under
// kPause. Threads started by a held-down thread inherit SCHED_IDLE: they call
// startAtNormalPolicy().
constexpr int64_t kHoldDownMaxMs = 5000;
bool holdDown();  // whether this thread is held down now
void holdUp();
bool heldDown();
void startAtNormalPolicy();

// This thread shares as `sharing` says instead of as the process does (tests;
// kStepDown still needs the process's right to come back).
void shareCpuOnThisThreadBy(CpuSharing sharing);

}  // namespace corral
