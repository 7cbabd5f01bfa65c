// The process's file descriptor table, grown once at start.
//
// Linux grows a process's descriptor table by doubling (64, 128, ... slots)
// when a new descriptor does not fit. In a process with more than one thread
// each growth waits for an RCU grace period (expand_files -> synchronize_rcu)
// inside the accept() or socket() that needed it: ~10-13 ms of a proxy
// worker's time per doubling on a 2-vCPU VM (perf sched: the worker in D
// state while the core idled), once a new generation accepts the ~1,600
// connections of the one it replaces. Grown at start, while main is the only
// thread, the table never waits again.
#pragma once

namespace corral {

constexpr int kReservedDescriptors = 65536;  // ~520 KiB of kernel memory

// Grows the table to hold min(RLIMIT_NOFILE, `descriptors`) descriptors.
// Call before any thread starts. Returns the table size now ("FDSize" of
// /proc/self/status), or 0 when it could not tell.
int reserveDescriptorTable(int descriptors = kReservedDescriptors);

}  // namespace corral
