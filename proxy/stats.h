// Per-worker counters of the data plane: plain structs, written only by
// their worker's loop thread; the admin /stats sums them across workers
// (read them on each worker's loop, e.g. with Loop::post, and add with +=).
#pragma once

#include <cstdint>

namespace corral::proxy {

// One route's backend (or the worker's unrouted requests).
struct RouteCounters {
  uint64_t requests = 0;
  // statusClass[n]: answers with status nxx (n = 1..5); [0]: exchanges cut
  // off before a status reached the client.
  uint64_t statusClass[6] = {};
  uint64_t errors = 0;        // answered by the proxy (X-Corral-Error) or cut off
  int64_t active = 0;         // exchanges in progress
  uint64_t latencyUsSum = 0;  // request head read to the end of the answer
  uint64_t latencyCount = 0;

  RouteCounters& operator+=(const RouteCounters& other) {
    requests += other.requests;
    for (int i = 0; i < 6; ++i) statusClass[i] += other.statusClass[i];
    errors += other.errors;
    active += other.active;
    latencyUsSum += other.latencyUsSum;
    latencyCount += other.latencyCount;
    return *this;
  }
};

}  // namespace corral::proxy
