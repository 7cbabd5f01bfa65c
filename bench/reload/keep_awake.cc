// keep_awake: keeps one CPU from halting while the reload benchmark measures,
// using only time no other task wants.
//
// Why: on a virtual machine whose guest idles with HLT (no cpuidle driver, as
// on the Firecracker/PVM VMs of docs/reload/HISTORY.md, fifth run), a
// halted vCPU is handed back to the host, and a wake-up (a packet, a timer)
// waits until the host runs that vCPU again. Measured there with a SCHED_FIFO thread sleeping
// 200 us at a time, 10 s on an idle core: 52 wake-ups more than 1 ms late, the
// worst 5.3 ms; with this program on the same core, none. Those late wake-ups
// were the 8-30 ms stalls that made every proxy's probe p99 jump by milliseconds
// with nothing changing. This does what the kernel's `idle=poll` or the
// cpuidle-haltpoll driver would do, for the benchmark's duration only.
//
// It runs as SCHED_IDLE, and its own CPU time is its own (the systems'
// utime+stime are unchanged). A task that wakes on the core preempts it at
// once; a task that was preempted (a tick ended its slice) is runnable, not
// woken, and EEVDF may pick this spinner before it and let it spin to the
// next tick: perf sched found the proxy's worker waiting 4 ms (HZ=250) behind
// it, ~2.6 times a second under 100 changes/s. So it spins on sched_yield():
// every turn is a pick, and a runnable task wins it within microseconds.
// Usage: keep_awake --seconds N (run pinned with taskset); it also exits when
// its parent does.

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

double nowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  }
  if (seconds <= 0) {
    std::fprintf(stderr, "usage: keep_awake --seconds N (N > 0)\n");
    return 2;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() == 1) return 0;  // the parent is already gone
  sched_param sp{};
  if (::sched_setscheduler(0, SCHED_IDLE, &sp) != 0) {
    std::perror("keep_awake: SCHED_IDLE");
    return 1;  // spinning at normal priority would take the core from the benchmark
  }
  const double end = nowSeconds() + seconds;
  // Bounded in time; the clock is read every 1,000 turns (well under a ms).
  while (nowSeconds() < end) {
    for (int i = 0; i < 1000; ++i) sched_yield();
  }
  return 0;
}
