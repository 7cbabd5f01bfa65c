// The agent's task ports: a set of inclusive ranges, each port held by at most one live task.
// Pure data structure, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

#include "base/result.h"

namespace corral::agent {

struct PortRange {
  uint16_t begin = 0;  // inclusive
  uint16_t end = 0;    // inclusive
  bool operator==(const PortRange&) const = default;
};

class PortPool {
 public:
  // Ranges may be given in any order; overlapping or adjacent ranges are merged.
  // Fails on an empty list, port 0, or begin > end.
  static Result<PortPool> create(std::vector<PortRange> ranges);

  // n distinct free ports, now in use. Ports are handed out round-robin so that a port just
  // released is the last to be reused. Fails (taking nothing) when fewer than n are free.
  Result<std::vector<uint16_t>> allocate(size_t n);
  // Marks a specific port in use (ports chosen by the master, tasks re-registered after a restart).
  // Fails if the port is outside the ranges or already in use.
  Status reserve(uint16_t port);
  // Reserves all or nothing.
  Status reserveAll(const std::vector<uint16_t>& ports);
  // Returns a port to the pool; false if it was not in use.
  bool release(uint16_t port);

  bool contains(uint16_t port) const;
  bool inUse(uint16_t port) const { return used_.count(port) != 0; }
  size_t size() const { return size_; }
  size_t freeCount() const { return size_ - used_.size(); }
  const std::vector<PortRange>& ranges() const { return ranges_; }
  // The free ports as ranges (what the agent offers as its `ports` resource).
  std::vector<PortRange> freeRanges() const;

 private:
  explicit PortPool(std::vector<PortRange> ranges);

  std::vector<PortRange> ranges_;  // sorted, disjoint, non-adjacent
  std::set<uint16_t> used_;
  size_t size_ = 0;
  uint16_t cursor_ = 0;  // next candidate for allocate()
};

}  // namespace corral::agent
